"""The overview's figures equal a plain-Python count of the orders, refunds, members and ledger
entries made here: chain-wide, by store and channel, for a store manager, compared with the
period before; and the liability reconciles with the points and stored-value balances."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.settings import Settings
from patron.members import merge as member_merge
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.models import Order, Refund
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points.models import EntryKind as PointsKind
from patron.points.models import PointsEntry
from patron.reports import facts, registry
from patron.reports.query import Period, report_query
from patron.stored_value import ledger as sv_ledger
from patron.stored_value.models import EntryKind as SvKind
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
from patron.stores.models import Store
from tests.factories import make_member, make_staff, make_store, order_body, staff_headers

START = datetime(2026, 2, 1, 16, tzinfo=UTC)  # business midnight of 2 February
NOW = datetime(2026, 3, 10, 4, tzinfo=UTC)
CHANNELS = ("pos", "mini_program", "delivery")
PERIOD = Period(date(2026, 2, 16), date(2026, 3, 1))  # 14 days; the previous: 2–15 February
MERGES = 1


@dataclass
class Chain:
    stores: list[Store]
    members: list[Member]


@pytest.fixture
def chain(session: Session) -> Chain:
    """Members registered and orders placed at random over a month (some around midnight),
    refunds in part and in full, stored value recharged; then the facts refreshed."""
    rng = random.Random(20)
    stores = [make_store(session) for _ in range(3)]
    members = []
    for n in range(12):
        with clock.frozen(START + timedelta(hours=rng.randint(0, 30 * 24))):
            members.append(make_member(session, stores[n % 3] if n % 4 else None))
    with clock.frozen(NOW):
        member_merge.merge_members(session, SYSTEM, members[-1].id, members[0].id)
    buyers = members[:-MERGES]
    made = []
    for _ in range(70):
        at = START + timedelta(days=rng.randint(0, 30), minutes=rng.choice([-30, 5, 600, 900]))
        price = rng.randint(1, 30_000)
        member = rng.choice([None, *buyers])
        body = order_body(
            rng.choice(stores),
            channel=rng.choice(CHANNELS),
            member_id=member.id if member else None,
            occurred_at=at.isoformat(),
            items=[
                {"sku": "A", "name": "x", "quantity": 2, "unit_price": price, "paid": 2 * price}
            ],
            payments=[{"method": "cash", "amount": 2 * price}],
        )
        with clock.frozen(at + timedelta(minutes=1)):  # points earned when it happened
            made.append(orders.create_order(session, SYSTEM, OrderCreate.model_validate(body)))
    for order in rng.sample(made, 20):
        request = (
            RefundCreate(all=True)
            if rng.random() < 0.5
            else RefundCreate.model_validate(
                {"items": [{"line_id": orders.lines_of(session, order.id)[0].id, "quantity": 1}]}
            )
        )
        later = order.occurred_at + timedelta(days=rng.randint(0, 10), hours=rng.randint(0, 12))
        with clock.frozen(min(later, NOW)):
            orders.refund_order(session, SYSTEM, order.id, request)
    for member in rng.sample(buyers, 5):
        with clock.frozen(START + timedelta(days=rng.randint(0, 30))):
            account = sv_ledger.lock_accounts(session, [member.id])[member.id]
            store = rng.choice(stores).id
            sv_ledger.post(
                session, account, SvKind.recharge, 10_000, 1_000, store_id=store, operator="t"
            )
    with clock.frozen(NOW):
        facts.refresh(session, NOW)
    return Chain(stores, members)


def _day(moment: datetime) -> date:
    return moment.astimezone(clock.business_tz()).date()


def expected(
    session: Session, period: Period, store_ids: Collection[int] | None, channel: str | None
) -> dict[str, Any]:
    """The overview's figures, counted in Python from the rows."""
    fresh = {"populate_existing": True}

    def chosen(store_id: int | None, order_channel: str | None = None) -> bool:
        in_stores = store_ids is None or store_id in store_ids
        return in_stores and (channel is None or order_channel in (None, channel))

    def within(moment: datetime) -> bool:
        return period.first <= _day(moment) <= period.last

    all_orders = {o.id: o for o in session.scalars(select(Order).execution_options(**fresh))}
    placed = [
        o for o in all_orders.values() if within(o.occurred_at) and chosen(o.store_id, o.channel)
    ]
    refunds = [
        r.amount
        for r in session.scalars(select(Refund).execution_options(**fresh))
        if within(r.created_at)
        and chosen(all_orders[r.order_id].store_id, all_orders[r.order_id].channel)
    ]
    sales = sum(o.total for o in placed)
    member_sales = sum(o.total for o in placed if o.member_id)
    bought: dict[int, set[date]] = defaultdict(set)
    for o in placed:
        if o.member_id is not None and o.status != "refunded":
            bought[o.member_id].add(_day(o.occurred_at))
    new = [
        m
        for m in session.scalars(select(Member).execution_options(**fresh))
        if within(m.registered_at) and chosen(m.store_id) and m.status != "merged"
    ]
    last = period.last
    points = sum(
        e.points
        for e in session.scalars(select(PointsEntry).execution_options(**fresh))
        if _day(e.created_at) <= last
        and e.kind not in (PointsKind.merge_in, PointsKind.merge_out)
        and (store_ids is None or e.store_id in store_ids)
    )
    value = sum(
        e.principal + e.bonus
        for e in session.scalars(select(StoredValueEntry).execution_options(**fresh))
        if _day(e.created_at) <= last
        and e.kind not in (SvKind.merge_in, SvKind.merge_out)
        and (store_ids is None or e.store_id in store_ids)
    )
    daily = []
    for n in range(period.days):
        day = period.first + timedelta(days=n)
        on_day = [o for o in placed if _day(o.occurred_at) == day]
        daily.append(
            {
                "day": day,
                "sales": sum(o.total for o in on_day),
                "member_sales": sum(o.total for o in on_day if o.member_id),
                "orders": len(on_day),
                "new_members": sum(1 for m in new if _day(m.registered_at) == day),
                "active_members": sum(1 for days in bought.values() if day in days),
            }
        )
    return {
        "sales": sales,
        "refunds": sum(refunds),
        "net_sales": sales - sum(refunds),
        "member_sales": member_sales,
        "member_share": round(member_sales / sales, 4) if sales else None,
        "orders": len(placed),
        "aov": (2 * sales + len(placed)) // (2 * len(placed)) if placed else None,  # half up
        "new_members": len(new),
        "active_members": len(bought),
        "repurchase_rate": (
            round(sum(1 for d in bought.values() if len(d) >= 2) / len(bought), 4)
            if bought
            else None
        ),
        "points_liability": points,
        "stored_value_liability": value,
        "daily": daily,
    }


def overview(session: Session, actor: Actor, period: Period, **filters: Any) -> registry.Answer:
    query = report_query(session, actor, period, **filters)
    return registry.run(session, actor, registry.get("overview"), query)


def figures(result: registry.Result) -> dict[str, Any]:
    (daily,) = result.tables
    return {**result.summary, "daily": daily.as_dicts()}


def test_chain_wide_with_the_period_before(session: Session, chain: Chain) -> None:
    answer = overview(session, SYSTEM, PERIOD, compare=True)
    want = expected(session, PERIOD, None, None)
    assert figures(answer.result) == want
    assert want["orders"] > 10
    assert want["refunds"] > 0
    assert want["new_members"] > 0
    assert 0 < want["repurchase_rate"] < 1
    assert want["stored_value_liability"] > 0
    assert answer.previous is not None
    before = expected(session, PERIOD.previous(), None, None)
    assert figures(answer.previous) == before
    change = registry.as_json(answer)["change"]
    assert change["sales"] == round((want["sales"] - before["sales"]) / before["sales"], 4)


@pytest.mark.parametrize("channel", [None, "pos", "delivery"])
def test_by_store_and_channel(session: Session, chain: Chain, channel: str | None) -> None:
    for store in chain.stores:
        answer = overview(session, SYSTEM, PERIOD, store_id=store.id, channel=channel)
        assert figures(answer.result) == expected(session, PERIOD, {store.id}, channel)
    answer = overview(session, SYSTEM, PERIOD, channel=channel)
    assert figures(answer.result) == expected(session, PERIOD, None, channel)


def test_a_store_manager_sees_their_stores(session: Session, chain: Chain) -> None:
    mine = chain.stores[:2]
    manager = make_staff(session, Role.store_manager, mine)
    actor = Actor(
        kind="staff",
        id=manager.id,
        name=manager.username,
        role=Role.store_manager,
        store_ids=frozenset(s.id for s in mine),
    )
    answer = overview(session, actor, PERIOD)
    assert figures(answer.result) == expected(session, PERIOD, {s.id for s in mine}, None)


def test_the_liability_reconciles_with_the_balances(session: Session, chain: Chain) -> None:
    today = _day(NOW)
    answer = overview(session, SYSTEM, Period(today - timedelta(days=6), today))
    points = session.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0)))
    value = session.scalar(
        select(func.sum(StoredValueAccount.principal + StoredValueAccount.bonus))
    )
    assert answer.result.summary["points_liability"] == points > 0
    assert answer.result.summary["stored_value_liability"] == value == 5 * 11_000


def test_an_empty_period_has_no_shares(session: Session, chain: Chain) -> None:
    summary = overview(session, SYSTEM, Period(date(2025, 1, 1), date(2025, 1, 7))).result.summary
    assert (summary["sales"], summary["orders"], summary["active_members"]) == (0, 0, 0)
    assert (summary["member_share"], summary["aov"], summary["repurchase_rate"]) == (None,) * 3


def test_the_api_answers_the_overview(
    session: Session, chain: Chain, client: TestClient, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session, Role.hq_finance), settings)
    response = client.get(
        "/api/v1/reports/overview",
        params={"from": "2026-02-16", "to": "2026-03-01", "compare": "true"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    want = expected(session, PERIOD, None, None)
    for key in ("sales", "member_sales", "member_share", "orders", "aov", "new_members"):
        assert body[key] == want[key]
    assert len(body["tables"]["daily"]) == 14
    assert body["previous"]["from"] == "2026-02-02"
    xlsx = client.get("/api/v1/reports/overview", params={"format": "xlsx"}, headers=headers)
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
