"""The points, stored-value, coupon and campaign reports, the leaderboards and the store page,
against plain-Python computations over the generated orders and ledgers (tests/reports/
ledger_world.py), and scoped to the reader's stores."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.campaigns import report as campaign_report
from patron.campaigns.models import Campaign, CampaignMember
from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden, InvalidInput
from patron.coupons.models import Coupon
from patron.members.models import Member
from patron.orders.models import Order, OrderStatus, Refund
from patron.points import queries as points_queries
from patron.points.models import PointsAccount, PointsEntry
from patron.reports import figures, registry
from patron.reports.query import ReportQuery, report_query
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
from patron.stores.service import StoreNotFound
from tests.coupons.test_reports import line
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_order,
    make_store,
)
from tests.reports.ledger_world import NOW, PERIOD, World, at, build, business_day, query

HQ = Actor("staff", 1, "hq", Role.hq_admin, None)


def manager_of(*store_ids: int) -> Actor:
    return Actor("staff", 2, "manager", Role.store_manager, frozenset(store_ids))


@pytest.fixture
def world(session: Session) -> World:
    return build(session)


@pytest.fixture(autouse=True)
def _now() -> Any:
    with clock.frozen(NOW):
        yield


def run(session: Session, name: str, q: ReportQuery, actor: Actor = HQ) -> registry.Result:
    return registry.run(session, actor, registry.get(name), q).result


def table(result: registry.Result, name: str) -> list[dict[str, Any]]:
    return next(t for t in result.tables if t.name == name).as_dicts()


def in_period(moment: Any) -> bool:
    return PERIOD.first <= business_day(moment) <= PERIOD.last


def within(store_id: int | None, store_ids: frozenset[int] | None) -> bool:
    return store_ids is None or store_id in store_ids


# --- points -----------------------------------------------------------------------------------

PERIOD_DAYS = figures.days_of(PERIOD)
EARNED = {"earn": 1, "grant": 1, "refund_reversal": 1, "grant_reversal": 1}
BURNED = {"burn": -1, "refund_restore": -1}


def points_moved(session: Session, store_ids: frozenset[int] | None) -> dict[str, Counter[Any]]:
    moved: dict[str, Counter[Any]] = {"earned": Counter(), "burned": Counter(), "net": Counter()}
    for entry in session.scalars(select(PointsEntry)):
        if not in_period(entry.created_at) or not within(entry.store_id, store_ids):
            continue
        day = business_day(entry.created_at)
        moved["earned"][day] += entry.points * EARNED.get(entry.kind, 0)
        moved["burned"][day] += entry.points * BURNED.get(entry.kind, 0)
        moved["net"][day] += entry.points
    return moved


@pytest.mark.parametrize("scope", ["chain", "store_a"])
def test_points_reconcile_with_the_ledger_and_the_accounts(
    session: Session, world: World, scope: str
) -> None:
    store_ids = frozenset({world.a.id}) if scope == "store_a" else None
    result = run(session, "points", query(store_ids))
    moved = points_moved(session, store_ids)
    daily = table(result, "daily")
    assert [row["day"] for row in daily] == figures.days_of(PERIOD)
    assert {r["day"]: r["earned"] for r in daily} == {d: moved["earned"][d] for d in PERIOD_DAYS}
    assert {r["day"]: r["burned"] for r in daily} == {d: moved["burned"][d] for d in PERIOD_DAYS}
    summary = result.summary
    assert summary["points_earned"] == sum(moved["earned"].values()) > 0
    assert summary["points_burned"] == sum(moved["burned"].values()) > 0
    # Every movement is earned, burned, expired or adjusted.
    assert summary["points_earned"] - summary["points_burned"] - summary[
        "points_expired"
    ] + summary["points_adjusted"] == sum(moved["net"].values())
    assert summary["burn_rate"] == round(summary["points_burned"] / summary["points_earned"], 4)
    by_month = table(result, "liability_by_expiry")
    assert sum(row["liability"] for row in by_month) == summary["points_liability"]
    if store_ids is None:
        held = sum(a.available + a.pending for a in session.scalars(select(PointsAccount)))
        assert summary["points_liability"] == held == points_queries.liability(session).points


# --- stored value -----------------------------------------------------------------------------


def test_stored_value_reconciles_with_the_ledger_and_the_accounts(
    session: Session, world: World
) -> None:
    result = run(session, "stored_value", query())
    entries = [e for e in session.scalars(select(StoredValueEntry)) if in_period(e.created_at)]
    summary = result.summary
    recharged = sum(e.principal for e in entries if e.kind == "recharge")
    assert summary["sv_recharged"] == recharged > 0
    assert (
        summary["sv_bonus"] == sum(e.bonus for e in entries if e.kind in ("recharge", "bonus")) > 0
    )
    assert summary["sv_spent"] == -sum(e.principal + e.bonus for e in entries if e.kind == "spend")
    movement = (
        summary["sv_recharged"]
        + summary["sv_bonus"]
        - summary["sv_spent"]
        - summary["sv_refunded"]
        + summary["sv_adjusted"]
    )
    accounts = list(session.scalars(select(StoredValueAccount)))
    # Everything was loaded in the period: what moved is what the members hold.
    assert movement == sum(e.principal + e.bonus for e in entries)
    assert summary["stored_value_liability"] == movement
    assert summary["liability_principal"] == sum(a.principal for a in accounts)
    assert summary["liability_bonus"] == sum(a.bonus for a in accounts)
    settlement = table(result, "settlement")
    assert sum(row["recharged"] for row in settlement) == recharged
    assert summary["settlement_net"] == sum(row["net"] for row in settlement)


def test_a_store_managers_stored_value_is_their_stores(session: Session, world: World) -> None:
    manager = manager_of(world.b.id)
    q = report_query(session, manager, PERIOD)
    result = run(session, "stored_value", q, manager)
    entries = [
        e
        for e in session.scalars(select(StoredValueEntry))
        if in_period(e.created_at) and e.store_id == world.b.id
    ]
    assert result.summary["sv_recharged"] == sum(
        e.principal for e in entries if e.kind == "recharge"
    )
    assert {row["store_id"] for row in table(result, "settlement")} <= {world.b.id}
    # What remains of the money recharged at B, no more than all members hold.
    chain = run(session, "stored_value", query())
    assert 0 < result.summary["stored_value_liability"] < chain.summary["stored_value_liability"]


# --- sales, buyers, leaderboards, the store page ----------------------------------------------


def expected_sales(session: Session, q: ReportQuery) -> dict[int, dict[str, int]]:
    """Per store: orders placed in the period and their totals (gross), the same of members'
    orders, and the refunds made in the period."""
    found: dict[int, dict[str, int]] = defaultdict(Counter)
    for order in session.scalars(select(Order)):
        if not within(order.store_id, q.store_ids) or q.channel not in (None, order.channel):
            continue
        if in_period(order.occurred_at):
            found[order.store_id]["orders"] += 1
            found[order.store_id]["sales"] += order.total
            if order.member_id:
                found[order.store_id]["member_sales"] += order.total
    for order, refunded_at, amount in refunds_of(session):
        if not within(order.store_id, q.store_ids) or q.channel not in (None, order.channel):
            continue
        if in_period(refunded_at):
            found[order.store_id]["refunds"] += amount
    return found


def refunds_of(session: Session) -> list[tuple[Order, Any, int]]:
    return [
        (order, refund.created_at, refund.amount)
        for refund, order in session.execute(
            select(Refund, Order).join(Order, Order.id == Refund.order_id)
        )
    ]


def expected_buyers(session: Session, q: ReportQuery, by: str) -> dict[Any, tuple[int, int, int]]:
    """Per store (or opening guide): (buyers, repeat buyers: on two business days or more,
    their net), of the members' orders in the period that were not wholly refunded."""
    guide_of = {
        m.id: m.opening_guide_id
        for m in session.scalars(select(Member))
        if within(m.store_id, q.store_ids)
    }
    orders: dict[tuple[Any, int], list[tuple[Any, int]]] = defaultdict(list)
    for order in session.scalars(select(Order)):
        if (
            order.member_id is None
            or order.status == OrderStatus.refunded.value
            or not in_period(order.occurred_at)
            or not within(order.store_id, q.store_ids)
            or q.channel not in (None, order.channel)
        ):
            continue
        key = order.store_id if by == "store" else guide_of.get(order.member_id)
        if key is not None:
            net = order.total - order.refunded_amount
            orders[(key, order.member_id)].append((business_day(order.occurred_at), net))
    found: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (key, _), bought in orders.items():
        found[key][0] += 1
        found[key][1] += len({day for day, _ in bought}) >= 2
        found[key][2] += sum(net for _, net in bought)
    return {key: (b, r, s) for key, (b, r, s) in found.items()}


def opened(session: Session, q: ReportQuery, by: str) -> Counter[Any]:
    found: Counter[Any] = Counter()
    for member in session.scalars(select(Member)):
        if in_period(member.registered_at) and within(member.store_id, q.store_ids):
            key = member.store_id if by == "store" else member.opening_guide_id
            if key is not None:
                found[key] += 1
    return found


@pytest.mark.parametrize("channel", [None, "online_mall"])
def test_the_stores_leaderboard(session: Session, world: World, channel: str | None) -> None:
    q = query(channel=channel)
    result = run(session, "leaderboard_stores", q)
    rows = table(result, "stores")
    sales, buyers, members = (
        expected_sales(session, q),
        expected_buyers(session, q, "store"),
        opened(session, q, "store"),
    )
    assert [r["store_id"] for r in rows][-1] == world.c.id  # nothing sold: last
    assert [r["rank"] for r in rows] == [1, 2, 3]
    member_sales = [r["member_sales"] for r in rows]
    assert member_sales == sorted(member_sales, reverse=True)
    for row in rows:
        store = row["store_id"]
        assert row["sales"] == sales[store]["sales"]
        assert row["member_sales"] == sales[store]["member_sales"]
        assert row["new_members"] == members[store]
        got, repeat, _ = buyers.get(store, (0, 0, 0))
        assert row["buyers"] == got
        assert row["repurchase_rate"] == (round(repeat / got, 4) if got else None)
    assert result.summary["sales"] == sum(s["sales"] for s in sales.values())
    assert result.summary["new_members"] == members[world.a.id] + members[world.b.id]
    assert result.summary["member_sales"] > 0


def test_the_guides_leaderboard(session: Session, world: World) -> None:
    q = query()
    rows = table(run(session, "leaderboard_guides", q), "guides")
    buyers, members = expected_buyers(session, q, "guide"), opened(session, q, "guide")
    assert {r["guide_id"] for r in rows} == set(buyers) | set(members)
    assert {r["guide"] for r in rows} <= {g.username for g in world.guides}
    for row in rows:
        assert (row["buyers"], row["member_sales"]) == buyers.get(row["guide_id"], (0, 0, 0))[::2]
        assert row["new_members"] == members[row["guide_id"]]
    member_sales = [r["member_sales"] for r in rows]
    assert member_sales == sorted(member_sales, reverse=True)
    assert member_sales[0] > 0


def test_a_managers_store_page_is_their_store(session: Session, world: World) -> None:
    manager = manager_of(world.a.id)
    q = report_query(session, manager, PERIOD)
    result = run(session, "store", q, manager)
    sales = expected_sales(session, q)[world.a.id]
    buyers, _, _ = expected_buyers(session, q, "store")[world.a.id]
    summary = result.summary
    assert (summary["sales"], summary["member_sales"], summary["orders"]) == (
        sales["sales"],
        sales["member_sales"],
        sales["orders"],
    )
    assert (summary["refunds"], summary["net_sales"]) == (
        sales["refunds"],
        sales["sales"] - sales["refunds"],
    )
    assert summary["member_share"] == round(sales["member_sales"] / sales["sales"], 4)
    assert summary["active_members"] == buyers
    assert summary["new_members"] == opened(session, q, "store")[world.a.id]
    daily = table(result, "daily")
    assert sum(r["orders"] for r in daily) == summary["orders"]
    assert sum(r["sales"] for r in daily) == summary["sales"]
    assert max(r["active_members"] for r in daily) <= buyers
    guides = table(result, "top_guides")
    assert {g["guide_id"] for g in guides} <= {g.id for g in world.guides[:2]}


def test_the_store_page_needs_one_store(session: Session, world: World) -> None:
    with pytest.raises(InvalidInput) as chain:
        run(session, "store", report_query(session, HQ, PERIOD), HQ)
    assert chain.value.extra["errors"] == [
        {
            "field": "store_id",
            "code": "store_required",
            "message": "the store page is one store's: choose it with store_id",
        }
    ]
    two = manager_of(world.a.id, world.b.id)
    with pytest.raises(InvalidInput):
        run(session, "store", report_query(session, two, PERIOD), two)
    assert run(session, "store", report_query(session, two, PERIOD, store_id=world.b.id), two)
    # A store outside the manager's scope is not found.
    with pytest.raises(StoreNotFound):
        report_query(session, manager_of(world.a.id), PERIOD, store_id=world.b.id)


def test_a_manager_sees_only_their_stores(session: Session, world: World) -> None:
    manager = manager_of(world.b.id)
    q = report_query(session, manager, PERIOD)
    rows = table(run(session, "leaderboard_stores", q, manager), "stores")
    assert [r["store_id"] for r in rows] == [world.b.id]
    points = run(session, "points", q, manager).summary
    assert points == run(session, "points", query(frozenset({world.b.id}))).summary
    assert points["points_earned"] < run(session, "points", query()).summary["points_earned"]
    # Only the guides who opened members at B: A's guides' members are A's.
    guides = table(run(session, "leaderboard_guides", q, manager), "guides")
    assert [g["guide_id"] for g in guides] == [world.guides[2].id]


# --- coupons and campaigns --------------------------------------------------------------------


def test_coupons_count_the_coupons_issued_in_the_period(session: Session) -> None:
    store, other = make_store(session), make_store(session)
    member = make_member(session, store)
    template = make_coupon_template(session)
    coupons = []
    for day in (PERIOD.first, PERIOD.last, PERIOD.last + (PERIOD.last - PERIOD.first)):
        with clock.frozen(at(day, 10)):
            coupons.append(issue_coupon(session, template, member))
    make_coupon_template(session)  # none issued: not listed
    with clock.frozen(at(PERIOD.last, 12)):
        order = make_order(
            session,
            store,
            member,
            occurred_at=at(PERIOD.last, 12).isoformat(),
            items=[line("A", 15000, 2000)],
            payments=[{"method": "cash", "amount": 13000}],
            coupons=[{"code": coupons[0].code, "amount": 2000}],
        )
    result = run(session, "coupons", query())
    (row,) = table(result, "templates")
    issued = [c for c in session.scalars(select(Coupon)) if in_period(c.issued_at)]
    assert (row["template_id"], row["issued"], row["redeemed"]) == (template.id, len(issued), 1)
    assert (row["discount"], row["redeeming_sales"]) == (2000, order.total)
    assert result.summary["issued"] == 2
    assert result.summary["redemption_rate"] == 0.5
    # Coupons pass through the store that issued or redeemed them: not through the other.
    assert run(session, "coupons", query(frozenset({other.id}))).summary["issued"] == 0
    with pytest.raises(Forbidden):
        run(session, "coupons", query(), replace(HQ, role=Role.cashier))


def test_campaigns_launched_in_the_period_with_their_uplift(session: Session) -> None:
    store = make_store(session)
    people = [make_member(session, store) for _ in range(6)]
    launched = []
    for day in (PERIOD.first, PERIOD.last + (PERIOD.last - PERIOD.first)):
        campaign = Campaign(
            name=f"唤醒 {day}",
            rule="registered_days >= 0",
            actions=[],
            control_percent=30,
            seed=1,
            attribution_days=14,
            status="done",
            launched_at=at(day, 10),
        )
        session.add(campaign)
        session.flush()
        launched.append(campaign)
        for n, person in enumerate(people):
            session.add(
                CampaignMember(campaign_id=campaign.id, member_id=person.id, in_control=n < 2)
            )
    for person in people[1:4]:
        make_order(session, store, person, occurred_at=at(PERIOD.last, 10).isoformat())
    session.flush()
    result = run(session, "campaigns", query())
    (row,) = table(result, "campaigns")
    expected = campaign_report.campaign_report(session, SYSTEM, launched[0].id)
    assert row["campaign_id"] == launched[0].id
    assert (row["treated_members"], row["control_members"]) == (4, 2)
    assert row["treated_conversion"] == 0.5
    assert row["control_conversion"] == 0.5
    assert row["uplift"] == campaign_report.rounded(expected.uplift.conversion.absolute)
    assert row["incremental_revenue"] == expected.uplift.incremental_revenue
    with pytest.raises(Forbidden):
        run(session, "campaigns", query(), manager_of(store.id))
