"""Concurrent stored-value work on PostgreSQL: recharges never take a balance over the cap,
spends never overdraw it, and a merge racing spends loses no fen."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from patron.core.actor import SYSTEM
from patron.members import merge as member_merge
from patron.stored_value import ledger, recharges
from patron.stored_value.errors import BalanceCapExceeded, InsufficientBalance
from patron.stored_value.models import StoredValueAccount
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store

CASH = recharges.Payment("cash", "")


def _balance(factory: sessionmaker, member_id: int) -> tuple[int, int]:  # type: ignore[type-arg]
    with factory() as session:
        account = session.get(StoredValueAccount, member_id)
        return (account.principal, account.bonus) if account else (0, 0)


def test_twenty_recharges_over_http_never_pass_the_cap(api: Api) -> None:
    with api.factory.begin() as session:
        store_id = make_store(session).id
        member_id = make_member(session).id
    body = {"store_id": store_id, "amount": 30000, "payment": {"method": "cash"}}

    def attempt(_: int) -> int:
        response = api.post(f"/members/{member_id}/stored-value/recharges", body)
        return int(response.status_code)

    results = race(20, attempt)
    assert sorted(results) == [201] * 16 + [409] * 4, results  # 16 × ¥300 = ¥4,800 ≤ ¥5,000
    assert _balance(api.factory, member_id) == (480000, 0)
    with api.factory() as session:
        assert ledger.verify(session) == []


def test_twenty_spends_of_100_from_1000_take_exactly_ten(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store_id = make_store(session).id
        member_id = make_member(session).id
        recharges.recharge(session, SYSTEM, member_id, store_id, CASH, amount=100000)

    def attempt(_: int) -> str:
        try:
            with factory.begin() as session:
                ledger.spend(session, member_id, 10000, store_id, None)
        except InsufficientBalance:
            return "refused"
        return "spent"

    results = race(20, attempt)
    assert sorted(results) == ["refused"] * 10 + ["spent"] * 10, results
    assert _balance(factory, member_id) == (0, 0)


def test_a_merge_racing_spends_and_recharges_loses_nothing(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store_id = make_store(session).id
        source, target = make_member(session).id, make_member(session).id
        recharges.recharge(session, SYSTEM, source, store_id, CASH, amount=100000)
        recharges.recharge(session, SYSTEM, target, store_id, CASH, amount=100000)

    def attempt(n: int) -> str:
        try:
            with factory.begin() as session:
                if n == 0:
                    member_merge.merge_members(session, SYSTEM, source, target)
                elif n % 2:
                    ledger.spend(session, source, 1000, store_id, None)
                else:
                    recharges.recharge(session, SYSTEM, target, store_id, CASH, amount=1000)
        except (InsufficientBalance, BalanceCapExceeded):
            return "refused"
        except Exception as exc:  # a spend on the source after the merge: not active
            return type(exc).__name__
        return "done"

    results = race(11, attempt)
    spent = sum(1 for n, r in enumerate(results) if n % 2 and r == "done")
    loaded = sum(1 for n, r in enumerate(results) if n and not n % 2 and r == "done")
    assert results[0] == "done", results
    total = sum(_balance(factory, m)[0] for m in (source, target))
    assert total == 200000 - spent * 1000 + loaded * 1000
    assert _balance(factory, source) == (0, 0)
    with factory() as session:
        assert ledger.verify(session) == []
