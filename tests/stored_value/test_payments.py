"""Paying with stored value: orders and `pay`, verification by member code or payment password,
the lock-out, the payment password, reversal on order refunds and earning on principal only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.errors import InvalidInput
from patron.core.idempotency import IdempotencyRecord
from patron.core.settings import Settings, get_settings
from patron.members import codes
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.models import Order
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points import earning
from patron.points.models import PointsEntry
from patron.stored_value import ledger, packages, payments, recharges
from patron.stored_value.errors import (
    InsufficientBalance,
    StoredValueLocked,
    VerificationFailed,
    VerificationRequired,
)
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
from patron.stores.models import Store
from tests.factories import (
    auth,
    make_api_key,
    make_member,
    make_staff,
    make_store,
    order_body,
    staff_headers,
)

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
CASH = recharges.Payment("cash", "")
PASSWORD = "246802"
RIGHT = payments.Verification(password=PASSWORD)
WRONG = payments.Verification(password="135790")


def load(session: Session, member: Member, store: Store, principal: int, bonus: int = 0) -> None:
    if not bonus:
        recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=principal)
        return
    package = packages.save_package(
        session, SYSTEM, {"name": f"充{principal}送{bonus}", "pay": principal, "bonus": bonus}
    )
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=package.id)


def balances(session: Session, member_id: int) -> tuple[int, int]:
    account = session.get(StoredValueAccount, member_id, populate_existing=True)
    return (account.principal, account.bonus) if account else (0, 0)


def account(session: Session, member_id: int) -> StoredValueAccount:
    found = session.get(StoredValueAccount, member_id, populate_existing=True)
    assert found is not None
    return found


def counts(session: Session) -> tuple[int, ...]:
    return tuple(
        int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in (StoredValueEntry, Order, AuditEntry, IdempotencyRecord)
    )


def sv_order(store: Store, member: Member, amount: int, **verification: str) -> dict[str, Any]:
    payment: dict[str, Any] = {"method": "stored_value", "amount": amount}
    if verification:
        payment["verification"] = verification
    return order_body(
        store,
        member_id=member.id,
        items=[
            {"sku": "SKU-1", "name": "洗发水", "quantity": 1, "unit_price": amount, "paid": amount}
        ],
        payments=[payment],
    )


@pytest.fixture
def till(session: Session) -> dict[str, Any]:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    return {"store": store, "member": member, "headers": auth(make_api_key(session, [store]))}


def place(client: TestClient, till: dict[str, Any], body: dict[str, Any], key: str) -> Any:
    headers = {**till["headers"], "Idempotency-Key": key}
    return client.post("/api/v1/orders", json=body, headers=headers)


# --- pay: the service other domains call ------------------------------------------------------


def test_pay_verifies_and_spends_with_the_document(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    load(session, member, store, 10000, 1000)
    entry = payments.pay(session, SYSTEM, member.id, 5500, store.id, RIGHT)
    assert (entry.kind, entry.principal, entry.bonus) == ("spend", -5000, -500)
    assert (entry.store_id, entry.operator, entry.order_id) == (store.id, SYSTEM.name, None)
    code = codes.issue_code(session, SYSTEM, member.id).code
    by_code = payments.pay(
        session, SYSTEM, member.id, 100, store.id, payments.Verification(member_code=code)
    )
    assert by_code.principal + by_code.bonus == -100
    assert balances(session, member.id) == (4909, 491)
    assert ledger.verify(session) == []


def test_pay_refusals_write_nothing_but_the_count(session: Session) -> None:
    store = make_store(session)
    member, other = make_member(session, store), make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    load(session, member, store, 1000)
    before = counts(session)
    with pytest.raises(VerificationRequired):
        payments.pay(session, SYSTEM, member.id, 100, store.id, None)
    with pytest.raises(InsufficientBalance):
        payments.pay(session, SYSTEM, member.id, 1001, store.id, RIGHT)
    with pytest.raises(VerificationFailed):
        payments.pay(session, SYSTEM, member.id, 100, store.id, WRONG)
    others_code = codes.issue_code(session, SYSTEM, other.id).code
    with pytest.raises(VerificationFailed):
        payments.pay(
            session,
            SYSTEM,
            member.id,
            100,
            store.id,
            payments.Verification(member_code=others_code),
        )
    with pytest.raises(VerificationFailed):
        payments.pay(
            session, SYSTEM, member.id, 100, store.id, payments.Verification(member_code="123")
        )
    assert counts(session) == before
    assert balances(session, member.id) == (1000, 0)
    assert account(session, member.id).failed_verifications == 3


def test_five_failures_lock_for_fifteen_minutes_and_success_resets(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    load(session, member, store, 10000)
    with clock.frozen(T0):
        for _ in range(3):
            with pytest.raises(VerificationFailed):
                payments.pay(session, SYSTEM, member.id, 100, store.id, WRONG)
        payments.pay(session, SYSTEM, member.id, 100, store.id, RIGHT)  # resets the count
        for _ in range(4):
            with pytest.raises(VerificationFailed):
                payments.pay(session, SYSTEM, member.id, 100, store.id, WRONG)
        with pytest.raises(StoredValueLocked) as locked:
            payments.pay(session, SYSTEM, member.id, 100, store.id, WRONG)
        until = T0 + timedelta(minutes=15)
        assert locked.value.extra["locked_until"] == until.isoformat()
    with clock.frozen(until - timedelta(seconds=1)), pytest.raises(StoredValueLocked):
        payments.pay(session, SYSTEM, member.id, 100, store.id, RIGHT)
    with clock.frozen(until):
        payments.pay(session, SYSTEM, member.id, 100, store.id, RIGHT)
        assert account(session, member.id).failed_verifications == 0
        assert payments.locked_until(account(session, member.id)) is None
    assert balances(session, member.id) == (9800, 0)


def test_without_a_password_set_no_password_is_right(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 1000)
    with pytest.raises(VerificationFailed):
        payments.pay(session, SYSTEM, member.id, 100, store.id, RIGHT)


@pytest.mark.parametrize(
    "weak", ["111111", "123456", "654321", "890123", "012345", "98765", "12345a", "１２３４５７"]
)
def test_a_weak_or_malformed_password_is_refused(weak: str) -> None:
    with pytest.raises(InvalidInput):
        payments.check_password(weak)


@pytest.mark.parametrize("fine", ["246802", "112233", "123457", "000001", "908172"])
def test_other_six_digit_passwords_are_taken(fine: str) -> None:
    payments.check_password(fine)


# --- orders over HTTP -------------------------------------------------------------------------


def test_an_order_paid_by_stored_value_spends_in_its_transaction(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    store, member = till["store"], till["member"]
    load(session, member, store, 10000, 1000)
    body = sv_order(store, member, 6000, password=PASSWORD)
    body["items"][0] |= {"unit_price": 8000, "paid": 8000}
    body["payments"].append({"method": "cash", "amount": 1000})
    body["payments"].append({"method": "stored_value", "amount": 1000})
    response = place(client, till, body, "o-1")
    assert response.status_code == 201, response.text
    assert "verification" not in response.text
    order_id = response.json()["id"]
    entry = session.scalars(select(StoredValueEntry).where(StoredValueEntry.order_id == order_id))
    spend = entry.one()  # the two stored-value payments, one spend
    assert (spend.principal + spend.bonus, spend.store_id) == (-7000, store.id)
    assert spend.operator == "api-key:POS"
    assert balances(session, member.id) == (10000 - 6364, 1000 - 636)
    replay = place(client, till, body, "o-1")
    assert replay.status_code == 200
    again = place(client, till, body, "o-2")  # a retry under another key
    assert (again.status_code, again.json()["code"]) == (409, "order_exists")
    assert balances(session, member.id) == (3636, 364)
    assert ledger.verify(session) == []


def test_order_refusals_change_nothing(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    store, member = till["store"], till["member"]
    load(session, member, store, 5000)
    before = counts(session)
    short = place(client, till, sv_order(store, member, 5001, password=PASSWORD), "a")
    assert (short.status_code, short.json()["code"]) == (409, "insufficient_balance")
    missing = place(client, till, sv_order(store, member, 100), "b")
    assert (missing.status_code, missing.json()["code"]) == (422, "verification_required")
    anonymous = sv_order(store, member, 100, password=PASSWORD)
    anonymous["member_id"] = None
    refused = place(client, till, anonymous, "c")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "stored_value_needs_member"
    cash = sv_order(store, member, 100, password=PASSWORD)
    cash["payments"][0]["method"] = "cash"
    refused = place(client, till, cash, "d")
    assert refused.json()["errors"][0]["code"] == "verification_without_stored_value"
    both = sv_order(store, member, 100, password=PASSWORD, member_code="1")
    refused = place(client, till, both, "e")
    assert refused.json()["errors"][0]["code"] == "code_or_password"
    assert counts(session) == before
    assert balances(session, member.id) == (5000, 0)


def test_a_wrong_answer_is_counted_though_the_order_is_refused(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    store, member = till["store"], till["member"]
    load(session, member, store, 50000)
    before = counts(session)
    body = sv_order(store, member, 1000, password="999990")
    with clock.frozen(T0):
        for n in range(4):
            wrong = place(client, till, body, f"w-{n}")
            assert (wrong.status_code, wrong.json()["code"]) == (422, "verification_failed")
        assert account(session, member.id).failed_verifications == 4
        # nothing but the count was kept: no order, entry, audit entry, nor the key's claim
        assert counts(session) == before
        locked = place(client, till, body, "w-4")
        assert (locked.status_code, locked.json()["code"]) == (423, "stored_value_locked")
        until = (T0 + timedelta(minutes=15)).isoformat()
        assert locked.json()["locked_until"] == until
        right = sv_order(store, member, 1000, password=PASSWORD)
        assert place(client, till, right, "w-0").status_code == 423  # even the right answer
        headers = till["headers"]
        shown = client.get(f"/api/v1/members/{member.id}/stored-value", headers=headers).json()
        assert datetime.fromisoformat(shown["locked_until"]) == T0 + timedelta(minutes=15)
        assert shown["has_password"] is True
    assert counts(session) == before
    with clock.frozen(T0 + timedelta(minutes=15)):
        assert place(client, till, right, "w-0").status_code == 201  # the key is still free
    assert balances(session, member.id) == (49000, 0)


def test_a_member_code_pays(client: TestClient, session: Session, till: dict[str, Any]) -> None:
    store, member = till["store"], till["member"]
    load(session, member, store, 5000)
    code = codes.issue_code(session, SYSTEM, member.id).code
    response = place(client, till, sv_order(store, member, 1200, member_code=code), "m-1")
    assert response.status_code == 201, response.text
    assert balances(session, member.id) == (3800, 0)


def test_partial_and_full_refunds_put_back_exactly(
    client: TestClient, session: Session, till: dict[str, Any], settings: Settings
) -> None:
    store, member = till["store"], till["member"]
    load(session, member, store, 10000, 1000)
    body = order_body(
        store,
        member_id=member.id,
        items=[{"sku": "SKU-1", "name": "毛巾", "quantity": 3, "unit_price": 4000, "paid": 12000}],
        payments=[
            {"method": "stored_value", "amount": 10000, "verification": {"password": PASSWORD}},
            {"method": "cash", "amount": 2000},
        ],
    )
    order = place(client, till, body, "r-o").json()
    assert balances(session, member.id) == (909, 91)  # took 9091 + 909
    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    line_id = order["items"][0]["id"]

    def refund(quantity: int, key: str) -> None:
        body = {"items": [{"line_id": line_id, "quantity": quantity}]}
        headers = {**manager, "Idempotency-Key": key}
        response = client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=headers)
        assert response.status_code == 201, response.text

    refund(1, "r-1")  # 4000 of 12000: floor(4000 × 10000 / 12000) = 3333 back
    reversal = session.scalars(
        select(StoredValueEntry).where(StoredValueEntry.kind == "spend_reversal")
    ).one()
    assert (reversal.principal, reversal.bonus) == (3031, 302)
    assert (reversal.store_id, reversal.refund_id is not None) == (store.id, True)
    refund(2, "r-2")
    assert balances(session, member.id) == (10000, 1000)
    assert ledger.order_take(session, order["id"]) == ledger.OrderTake(0, 0)
    assert ledger.verify(session) == []


# --- earning on principal only ------------------------------------------------------------------


def test_the_principal_share_earns_and_the_bonus_share_does_not(
    client: TestClient, session: Session, till: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """¥100 + ¥10 loaded, a ¥100 order paid from it: ¥90.91 of principal → 90 points."""
    store, member = till["store"], till["member"]
    load(session, member, store, 10000, 1000)

    def earned(key: str) -> int:
        response = place(client, till, sv_order(store, member, 10000, password=PASSWORD), key)
        assert response.status_code == 201, response.text
        query = select(PointsEntry.points).where(PointsEntry.order_id == response.json()["id"])
        return int(session.scalar(query) or 0)

    assert earned("e-1") == 90
    load(session, member, store, 10000, 1000)
    earns = get_settings().model_copy(update={"stored_value_bonus_earns": True})
    monkeypatch.setattr(earning, "get_settings", lambda: earns)
    assert earned("e-2") == 100


def test_replayed_payloads_carry_the_bonus_part(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    load(session, member, store, 10000, 1000)
    data = OrderCreate.model_validate(sv_order(store, member, 10000, password=PASSWORD))
    taken = orders.create_order(session, SYSTEM, data)
    (payload,) = orders.completed_payloads(session, [taken.id])
    assert payload.stored_value_bonus == 909
    facts = earning.order_facts(payload, member.id)
    assert earning.eligible_fen(facts) == 9091


# --- the payment password over HTTP -------------------------------------------------------------


def test_the_till_sets_the_password_and_it_clears_the_lock(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 1000)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    path = f"/api/v1/members/{member.id}/stored-value/password"
    weak = client.put(path, json={"password": "123456"}, headers=cashier)
    assert weak.json()["errors"][0]["code"] == "password_too_simple"
    assert client.put(path, json={"password": "12345"}, headers=cashier).status_code == 422
    guide = staff_headers(make_staff(session, Role.guide, [store]), settings)
    assert client.put(path, json={"password": PASSWORD}, headers=guide).status_code == 403
    with clock.frozen(T0):
        for _ in range(5):
            with pytest.raises((VerificationFailed, StoredValueLocked)):
                payments.authorize(session, member.id, 100, RIGHT)  # no password yet
        assert payments.locked_until(account(session, member.id)) is not None
        assert client.put(path, json={"password": PASSWORD}, headers=cashier).status_code == 204
        shown = client.get(f"/api/v1/members/{member.id}/stored-value", headers=cashier).json()
        assert (shown["has_password"], shown["locked_until"]) == (True, None)
        payments.authorize(session, member.id, 100, RIGHT)
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stored_value.password_set")
    ).one()
    assert PASSWORD not in str(audit.after)
    assert audit.after == {"replaced": False, "lock_cleared": True}
    stored = account(session, member.id).password_hash
    assert stored is not None
    assert PASSWORD not in stored


# --- a property: orders paid by stored value and partial refunds ------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    loads=st.lists(st.tuples(st.integers(1, 20000), st.integers(0, 3000)), min_size=1, max_size=3),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("order"), st.integers(1, 3), st.integers(1, 9000)),
            st.tuples(st.just("refund"), st.integers(0, 5), st.integers(1, 3)),
        ),
        max_size=12,
    ),
)
def test_orders_and_partial_refunds_keep_the_ledger_whole(
    session: Session, loads: list[tuple[int, int]], steps: list[tuple[str, int, int]]
) -> None:
    nested = session.begin_nested()
    try:
        _run(session, loads, steps)
    finally:
        nested.rollback()


def _run(session: Session, loads: list[tuple[int, int]], steps: list[tuple[str, int, int]]) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    for principal, bonus in loads:
        load(session, member, store, principal, bonus)
    taken: list[int] = []
    for kind, a, b in steps:
        if kind == "order":
            body = sv_order(store, member, b, password=PASSWORD)
            body["items"][0] |= {"quantity": a, "unit_price": b, "paid": a * b}
            if a > 1:
                body["payments"].append({"method": "cash", "amount": (a - 1) * b})
            try:
                taken.append(
                    orders.create_order(session, SYSTEM, OrderCreate.model_validate(body)).id
                )
            except InsufficientBalance:
                continue
        elif taken:
            order_id = taken[a % len(taken)]
            line = orders.lines_of(session, order_id)[0]
            left = line.quantity - line.refunded_quantity
            if left:
                data = RefundCreate.model_validate(
                    {"items": [{"line_id": line.id, "quantity": min(b, left)}]}
                )
                orders.refund_order(session, SYSTEM, order_id, data)
        principal, bonus = balances(session, member.id)
        assert principal >= 0
        assert bonus >= 0
        assert ledger.verify(session) == []
        for order_id in taken:
            take = ledger.order_take(session, order_id)
            assert take.principal >= 0
            assert take.bonus >= 0
    for order_id in taken:
        order = session.get(Order, order_id, populate_existing=True)
        assert order is not None
        if order.refunded_amount == order.total:
            assert ledger.order_take(session, order_id) == ledger.OrderTake(0, 0)
