"""Commits racing on PostgreSQL over HTTP, each request its own connection: of quotes spending
the same points, coupon or stored-value fen exactly one is recorded, and a quote is recorded
once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from patron.core.actor import SYSTEM
from patron.coupons.models import Coupon
from patron.orders.models import Order
from patron.points import queries as points_queries
from patron.stored_value import ledger, payments
from patron.stored_value.models import StoredValueAccount
from tests.checkout.helpers import Shop, basket, coupon, give_points, load, shop
from tests.concurrency.conftest import Api, api, pg_engine
from tests.concurrency.test_races import race

__all__ = ["api", "pg_engine"]
RACERS = 6
PASSWORD = "246802"


def _quotes(api: Api, where: Shop, **asked: Any) -> list[dict[str, Any]]:
    found = []
    for _ in range(RACERS):
        response = api.post("/checkout/quote", basket(where, **asked))
        assert response.status_code == 201, response.text
        found.append(response.json())
    return found


def _commit(api: Api, quote: dict[str, Any], n: int, **extra: Any) -> tuple[int, str]:
    due = quote["amount_due"]
    body = {
        "quote_id": quote["quote_id"],
        "external_id": f"RACE-{quote['quote_id'][:6]}-{n}",
        "payments": [{"method": "cash", "amount": due}] if due else [],
        **extra,
    }
    response = api.post("/checkout/commit", body)
    return response.status_code, response.json().get("code", "")


def _orders(api: Api, member_id: int) -> int:
    with api.factory() as session:
        return int(session.scalar(select(func.count()).where(Order.member_id == member_id)) or 0)


def _one_wins(results: list[tuple[int, str]], refusals: set[str]) -> None:
    counted = Counter(results)
    assert counted[(201, "")] == 1, counted
    assert {code for status, code in counted if status != 201} <= refusals, counted
    assert sum(n for (status, _), n in counted.items() if status == 409) == RACERS - 1


def test_quotes_spending_the_same_points_commit_once(api: Api) -> None:
    with api.factory.begin() as session:
        where = shop(session)
        give_points(session, where.member, 3000)
    quotes = _quotes(api, where, points=3000)
    results = race(RACERS, lambda n: _commit(api, quotes[n], n))
    _one_wins(results, {"insufficient_points", "quote_stale"})
    with api.factory() as session:
        # All 3000 burned once; the order paid 10,000 fen besides and earned 100.
        assert points_queries.balance(session, where.member.id).available == 100
    assert _orders(api, where.member.id) == 1


def test_quotes_using_the_same_coupon_commit_once(api: Api) -> None:
    with api.factory.begin() as session:
        where = shop(session)
        ticket = coupon(session, where.member)
    quotes = _quotes(api, where, coupon_codes=[ticket.code])
    results = race(RACERS, lambda n: _commit(api, quotes[n], n))
    _one_wins(results, {"coupon_unavailable", "quote_stale"})
    with api.factory() as session:
        held = session.get(Coupon, ticket.id)
        assert held is not None
        assert held.status == "redeemed"
    assert _orders(api, where.member.id) == 1


def test_quotes_spending_the_same_stored_value_commit_once(api: Api) -> None:
    with api.factory.begin() as session:
        where = shop(session)
        load(session, where.member, where.store, 10_000)
        payments.set_password(session, SYSTEM, where.member.id, PASSWORD)
    quotes = _quotes(api, where, stored_value=8000)
    verification = {"password": PASSWORD}
    results = race(RACERS, lambda n: _commit(api, quotes[n], n, verification=verification))
    _one_wins(results, {"insufficient_balance", "quote_stale"})
    with api.factory() as session:
        account = session.get(StoredValueAccount, where.member.id)
        assert account is not None
        assert account.principal + account.bonus == 2000
        assert ledger.verify(session) == []
    assert _orders(api, where.member.id) == 1


def test_one_quote_committed_at_once_under_several_keys_is_recorded_once(api: Api) -> None:
    with api.factory.begin() as session:
        where = shop(session)
    quote = _quotes(api, where)[0]
    results = race(RACERS, lambda n: _commit(api, quote, 0))
    assert Counter(results) == {(201, ""): 1, (409, "quote_used"): RACERS - 1}
    assert _orders(api, where.member.id) == 1
