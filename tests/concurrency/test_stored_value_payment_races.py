"""Orders paying with stored value at the same time, over HTTP on PostgreSQL: the account's
row lock lets exactly as many through as the balance holds, and wrong passwords racing one
another still lock after the fifth."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from patron.core.actor import SYSTEM
from patron.orders.models import Order
from patron.stored_value import ledger, payments, recharges
from patron.stored_value.models import StoredValueAccount
from patron.stores.models import Store
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store, order_body

PASSWORD = "246802"


def _paid_order(store: Store, member_id: int, n: int, password: str) -> dict[str, object]:
    return order_body(
        store,
        f"SV-{member_id}-{n}",
        member_id=member_id,
        items=[{"sku": "SV-1", "name": "套餐", "quantity": 1, "unit_price": 10000, "paid": 10000}],
        payments=[
            {"method": "stored_value", "amount": 10000, "verification": {"password": password}}
        ],
    )


def _loaded_member(api: Api, amount: int) -> tuple[Store, int]:
    with api.factory.begin() as session:
        store = make_store(session)
        member_id = make_member(session).id
        payments.set_password(session, SYSTEM, member_id, PASSWORD)
        cash = recharges.Payment("cash", "")
        recharges.recharge(session, SYSTEM, member_id, store.id, cash, amount=amount)
    return store, member_id


def test_twenty_orders_of_100_from_1000_take_exactly_ten(api: Api) -> None:
    store, member_id = _loaded_member(api, 100000)

    def attempt(n: int) -> tuple[int, str]:
        response = api.post("/orders", _paid_order(store, member_id, n, PASSWORD))
        return response.status_code, response.json().get("code", "")

    results = Counter(race(20, attempt))
    assert results == {(201, ""): 10, (409, "insufficient_balance"): 10}, results
    with api.factory() as session:
        account = session.get(StoredValueAccount, member_id)
        assert account is not None
        assert (account.principal, account.bonus) == (0, 0)
        orders = session.scalar(select(func.count()).where(Order.member_id == member_id))
        assert orders == 10
        assert ledger.verify(session) == []


def test_racing_wrong_passwords_lock_after_five(api: Api) -> None:
    store, member_id = _loaded_member(api, 100000)

    def attempt(n: int) -> tuple[int, str]:
        response = api.post("/orders", _paid_order(store, member_id, n, "999990"))
        return response.status_code, response.json().get("code", "")

    results = Counter(race(8, attempt))
    assert results == {(422, "verification_failed"): 4, (423, "stored_value_locked"): 4}, results
    with api.factory() as session:
        account = session.get(StoredValueAccount, member_id)
        assert account is not None
        assert payments.locked_until(account) is not None
        assert account.principal == 100000
        assert session.scalar(select(func.count()).where(Order.member_id == member_id)) == 0
