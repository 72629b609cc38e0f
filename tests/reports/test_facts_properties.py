"""Under random sequences of orders (of members or not, in several stores and channels, around
business midnight), partial and full refunds, points adjustments and stored-value recharges,
with refreshes in between, the daily facts end equal to a plain-Python count of the rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.orders import service as orders
from patron.orders.models import Order, OrderChannel, Refund
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points import adjustments
from patron.points.models import EntryKind as PointsKind
from patron.points.models import PointsEntry
from patron.reports import facts
from patron.reports.models import (
    LedgerDayFacts,
    MemberDay,
    MemberDayFacts,
    MemberStoreDay,
    SalesDayFacts,
)
from patron.stored_value import ledger as sv_ledger
from patron.stored_value.models import EntryKind as SvKind
from patron.stored_value.models import StoredValueEntry
from tests.factories import make_member, make_store, order_body

# Business midnights (Asia/Shanghai) of 31 December 2025, 1 and 2 January 2026 (days across a
# month's end); everything is read on the 10th.
MIDNIGHTS = [
    datetime(2025, 12, 30, 16, tzinfo=UTC),
    datetime(2025, 12, 31, 16, tzinfo=UTC),
    datetime(2026, 1, 1, 16, tzinfo=UTC),
]
REFUNDS_AROUND = datetime(2026, 1, 2, 16, tzinfo=UTC)  # after every order
NOW = datetime(2026, 1, 10, 4, tzinfo=UTC)
CHANNELS = [c.value for c in OrderChannel]
AROUND = st.integers(-180, 180)  # minutes from a midnight

orders_ = st.tuples(
    st.just("order"),
    st.integers(0, 2),  # store
    st.sampled_from(CHANNELS),
    st.integers(-1, 2),  # member, -1 none
    st.integers(0, 2),  # midnight
    AROUND,
    st.integers(1, 3),  # quantity of the first line
    st.integers(1, 20_000),  # its unit price
)
refunds = st.tuples(st.just("refund"), st.integers(0, 50), st.sampled_from(["all", "one"]), AROUND)
adjusts = st.tuples(st.just("adjust"), st.integers(0, 2), st.integers(1, 20), AROUND)
recharges = st.tuples(st.just("recharge"), st.integers(0, 2), st.integers(1, 50_000), AROUND)
refreshes = st.tuples(st.just("refresh"))
steps = st.lists(
    st.one_of(orders_, orders_, refunds, refunds, refreshes, refreshes, adjusts, recharges),
    max_size=16,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
# A member's order refunded in full after a refresh: its day's member facts drop it.
@example(steps=[("order", 0, "pos", 0, 0, 0, 1, 100), ("refresh",), ("refund", 0, "all", 0)])
# A member's days on 30 and 31 December and 1 January: two of one month, then the next's.
@example(
    steps=[
        ("order", 0, "pos", 0, 0, -60, 1, 100),
        ("order", 0, "pos", 0, 0, 60, 1, 100),
        ("order", 0, "pos", 0, 1, 60, 1, 100),
    ]
)
# Linked after a refresh, then a later day: the earlier days keep their links, the last of
# them takes its next day.
@example(
    steps=[
        ("order", 0, "pos", 0, 0, -60, 1, 100),
        ("order", 1, "pos", 0, 0, 60, 1, 100),
        ("refresh",),
        ("order", 1, "pos", 0, 2, 60, 1, 100),
    ]
)
def test_the_facts_equal_the_rows_they_count(
    session: Session, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[Any, ...]]
) -> None:
    # No margin below the watermarks: one session has no transaction in flight, and the ids
    # here are small (a margin of 1000 would re-read every row and hide a day left out).
    monkeypatch.setattr(facts, "MARGIN", 0)
    session.expunge_all()
    with session.begin_nested() as savepoint:
        stores = [make_store(session) for _ in range(3)]
        members = [make_member(session, stores[n]) for n in range(3)]
        made: list[Order] = []
        for step in steps:
            _play(session, step, stores, members, made)
        with clock.frozen(NOW):
            facts.refresh(session, NOW)
            assert _facts(session) == _expected(session)
        savepoint.rollback()


def _play(
    session: Session,
    step: tuple[Any, ...],
    stores: list[Any],
    members: list[Any],
    made: list[Order],
) -> None:
    kind = step[0]
    if kind == "order":
        _, store, channel, member, midnight, minutes, quantity, price = step
        at = MIDNIGHTS[midnight] + timedelta(minutes=minutes)
        items = [
            {
                "sku": "A",
                "name": "x",
                "quantity": quantity,
                "unit_price": price,
                "paid": quantity * price,
            },
            {"sku": "B", "name": "y", "quantity": 2, "unit_price": 1500, "paid": 3000},
        ]
        total = quantity * price + 3000
        body = order_body(
            stores[store],
            channel=channel,
            member_id=members[member].id if member >= 0 else None,
            occurred_at=at.isoformat(),
            items=items,
            payments=[{"method": "cash", "amount": total}],
        )
        with clock.frozen(NOW):
            made.append(orders.create_order(session, SYSTEM, OrderCreate.model_validate(body)))
    elif kind == "refund" and made:
        _, which, how, minutes = step
        order = made[which % len(made)]
        lines = [
            ln for ln in orders.lines_of(session, order.id) if ln.refunded_quantity < ln.quantity
        ]
        if not lines:
            return
        request = (
            RefundCreate(all=True)
            if how == "all"
            else RefundCreate.model_validate({"items": [{"line_id": lines[0].id, "quantity": 1}]})
        )
        with clock.frozen(REFUNDS_AROUND + timedelta(minutes=minutes)):
            orders.refund_order(session, SYSTEM, order.id, request)
    elif kind == "adjust":
        _, member, points, minutes = step
        with clock.frozen(REFUNDS_AROUND + timedelta(minutes=minutes)):
            adjustments.request_adjustment(
                session, SYSTEM, members[member].id, points, "goodwill", stores[member].id
            )
    elif kind == "recharge":
        _, member, fen, minutes = step
        with clock.frozen(MIDNIGHTS[member] + timedelta(minutes=minutes)):
            account = sv_ledger.lock_accounts(session, [members[member].id])[members[member].id]
            sv_ledger.post(
                session,
                account,
                SvKind.recharge,
                fen,
                fen // 10,
                store_id=stores[member].id,
                operator="t",
            )
    elif kind == "refresh":
        with clock.frozen(NOW):
            facts.refresh(session, NOW)


def _day(moment: datetime) -> date:
    return moment.astimezone(clock.business_tz()).date()


def _facts(session: Session) -> dict[str, dict[tuple[Any, ...], tuple[int, ...]]]:
    def read(table: Any, keys: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[int, ...]]:
        found = {}
        for row in session.scalars(select(table).execution_options(populate_existing=True)):
            values = {c.name: getattr(row, c.key) for c in table.__table__.columns}
            key = tuple(values.pop(k) for k in keys)
            found[key] = tuple(values.values())
        return found

    return {
        "sales": read(SalesDayFacts, ("day", "store_id", "channel")),
        "members": read(MemberDayFacts, ("day", "member_id", "store_id", "channel")),
        "ledgers": read(LedgerDayFacts, ("day", "store_id")),
        "member_days": read(MemberDay, ("day", "member_id")),
        "member_store_days": read(MemberStoreDay, ("day", "member_id", "store_id")),
    }


def _linked(
    members: dict[tuple[Any, ...], list[int]], *, per_store: bool = False
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Each member's days of purchase (at each store) with the one before and after, and
    whether it is the first and the last of its month."""

    def month(day: date) -> tuple[int, int]:
        return day.year, day.month

    days: dict[tuple[int, ...], set[date]] = defaultdict(set)
    for day, member_id, store_id, _ in members:
        days[(member_id, store_id) if per_store else (member_id,)].add(day)
    linked: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for within, chosen in days.items():
        ordered = [None, *sorted(chosen), None]
        for before, day, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            if day is not None:
                first = before is None or month(before) < month(day)
                last = after is None or month(after) > month(day)
                linked[(day, *within)] = (before, after, first, last)
    return linked


def _expected(session: Session) -> dict[str, dict[tuple[Any, ...], tuple[int, ...]]]:
    sales: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
    members: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 2)
    ledgers: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 9)
    fresh = {"populate_existing": True}
    by_id = {o.id: o for o in session.scalars(select(Order).execution_options(**fresh))}
    for o in by_id.values():
        row = sales[(_day(o.occurred_at), o.store_id, o.channel)]
        row[0] += 1
        row[1] += o.total
        if o.member_id is not None:
            row[3] += 1
            row[4] += o.total
            if o.status != "refunded":
                mine = members[(_day(o.occurred_at), o.member_id, o.store_id, o.channel)]
                mine[0] += 1
                mine[1] += o.total - o.refunded_amount
    for r in session.scalars(select(Refund).execution_options(**fresh)):
        o = by_id[r.order_id]
        row = sales[(_day(r.created_at), o.store_id, o.channel)]
        row[2] += r.amount
        if o.member_id is not None:
            row[5] += r.amount
    points_column = {
        PointsKind.earn: (0, 1),
        PointsKind.grant: (0, 1),
        PointsKind.refund_reversal: (0, 1),
        PointsKind.grant_reversal: (0, 1),
        PointsKind.burn: (1, -1),
        PointsKind.refund_restore: (1, -1),
        PointsKind.expire: (2, -1),
        PointsKind.adjust: (3, 1),
        PointsKind.debt_payment: (3, 1),
    }
    for e in session.scalars(select(PointsEntry).execution_options(**fresh)):
        ledgers[(_day(e.created_at), e.store_id or 0)]  # a merge's entry still makes a row
        if PointsKind(e.kind) in points_column:
            column, sign = points_column[PointsKind(e.kind)]
            ledgers[(_day(e.created_at), e.store_id or 0)][column] += sign * e.points
    for v in session.scalars(select(StoredValueEntry).execution_options(**fresh)):
        row = ledgers[(_day(v.created_at), v.store_id or 0)]
        both = v.principal + v.bonus
        if v.kind == SvKind.recharge:
            row[4] += v.principal
            row[5] += v.bonus
        elif v.kind == SvKind.bonus:
            row[5] += v.bonus
        elif v.kind in (SvKind.spend, SvKind.spend_reversal):
            row[6] -= both
        elif v.kind == SvKind.refund:
            row[7] -= both
        elif v.kind == SvKind.adjust:
            row[8] += both
    return {
        "sales": {k: tuple(v) for k, v in sales.items()},
        "members": {k: tuple(v) for k, v in members.items()},
        "ledgers": {k: tuple(v) for k, v in ledgers.items()},
        "member_days": _linked(members),
        "member_store_days": _linked(members, per_store=True),
    }
