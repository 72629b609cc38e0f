"""Random sequences of orders (in two stores), refunds, burns, adjustments, merges and clock
advances with job runs. After every step: the ledger sum equals available + pending − debt for
every member, no lot is negative or overdrawn, no expired point was ever spent, each order's earned
minus reversed points equal what the refund formula leaves of what the rules gave, and whatever
expired in the step (by the job or by a member's own spend) has one `expire` entry per member and
earning store for exactly what those lots held; after a job run nothing is left due."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.members import merge as member_merge
from patron.members import registry
from patron.orders import service as orders
from patron.orders.models import Order
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points import adjustments, burning, jobs
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points.models import EntryKind, LotStatus, PointsAllocation, PointsEntry, PointsLot
from tests.factories import make_member, make_store, order_body

START = datetime(2025, 12, 20, 4, 0, tzinfo=UTC)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.integers(0, 2), st.integers(100, 60_000), st.booleans()),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 3), st.booleans()),
        st.tuples(st.just("burn"), st.integers(0, 2), st.integers(100, 800), st.booleans()),
        st.tuples(st.just("adjust"), st.integers(0, 2), st.integers(-300, 600), st.booleans()),
        st.tuples(st.just("advance"), st.integers(1, 200), st.integers(0, 0), st.booleans()),
        st.tuples(st.just("merge"), st.integers(0, 2), st.integers(0, 2), st.booleans()),
    ),
    min_size=1,
    max_size=25,
)


def check_invariants(session: Session, member_ids: list[int], now: datetime) -> None:
    assert points_queries.verify(session) == []
    assert (
        session.scalar(
            select(func.count())
            .select_from(PointsLot)
            .where((PointsLot.remaining < 0) | (PointsLot.remaining > PointsLot.points))
        )
        == 0
    )
    spent_expired = session.scalar(
        select(func.count())
        .select_from(PointsAllocation)
        .join(PointsEntry, PointsEntry.id == PointsAllocation.entry_id)
        .join(PointsLot, PointsLot.id == PointsAllocation.lot_id)
        .where(
            PointsEntry.kind == EntryKind.burn.value, PointsLot.expires_at <= PointsEntry.created_at
        )
    )
    assert spent_expired == 0
    for order in session.scalars(select(Order).where(Order.member_id.is_not(None))):
        earned = sum(
            session.scalars(
                select(PointsEntry.points).where(
                    PointsEntry.order_id == order.id, PointsEntry.kind == "earn"
                )
            )
        )
        reversed_ = -sum(
            session.scalars(
                select(PointsEntry.points).where(
                    PointsEntry.order_id == order.id, PointsEntry.kind == "refund_reversal"
                )
            )
        )
        assert (
            reversed_ == earned * order.refunded_amount // order.total
            if order.total
            else reversed_ == 0
        )
        assert earned == (order.total - _not_earning(session, order.id)) // 100


Lots = dict[int, tuple[int, int | None, str, int]]


def lots_now(session: Session) -> Lots:
    """Each lot's member, store, status and remaining points."""
    rows = session.execute(
        select(
            PointsLot.id,
            PointsLot.member_id,
            PointsLot.store_id,
            PointsLot.status,
            PointsLot.remaining,
        )
    )
    return {
        lot_id: (member_id, store_id, status, left)
        for lot_id, member_id, store_id, status, left in rows
    }


def last_entry(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(PointsEntry.id), 0))) or 0


def check_expiry(session: Session, before: Lots, entries_before: int) -> None:
    lost: Counter[tuple[int, int | None]] = Counter()
    for lot_id, (_, _, status, _) in lots_now(session).items():
        if status == LotStatus.expired and lot_id in before:
            member_id, store_id, was, remaining = before[lot_id]
            if was != LotStatus.expired:
                lost[(member_id, store_id)] += remaining
    written = session.execute(
        select(
            PointsEntry.member_id, PointsEntry.store_id, PointsEntry.points, PointsEntry.lot_id
        ).where(PointsEntry.kind == EntryKind.expire.value, PointsEntry.id > entries_before)
    ).all()
    assert all(lot_id is None for *_, lot_id in written)
    booked = Counter({(member_id, store_id): -points for member_id, store_id, points, _ in written})
    assert len(booked) == len(written), "one entry per member and store"
    assert booked == +lost


def check_nothing_due(session: Session, now: datetime) -> None:
    due = ((PointsLot.status == LotStatus.available.value) & (PointsLot.expires_at <= now)) | (
        (PointsLot.status == LotStatus.pending.value) & (PointsLot.release_at <= now)
    )
    assert session.scalar(select(func.count()).select_from(PointsLot).where(due)) == 0


def _not_earning(session: Session, order_id: int) -> int:
    from patron.orders.models import OrderPayment

    return sum(
        session.scalars(
            select(OrderPayment.amount).where(
                OrderPayment.order_id == order_id, OrderPayment.method.in_(["points", "coupon"])
            )
        )
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, pending_days=st.sampled_from([0, 7]), months=st.sampled_from([1, 24]))
def test_ledger_invariants_hold_after_every_step(
    session: Session, script: list[tuple[str, int, int, bool]], pending_days: int, months: int
) -> None:
    with session.begin_nested() as savepoint:
        policy = points_policy.get_policy(session)
        policy.pending_days, policy.rolling_months = pending_days, months
        store, other_store = make_store(session), make_store(session)
        people = [make_member(session, store) for _ in range(3)]
        ids = [m.id for m in people]
        order_ids: list[int] = []
        now = START
        for number, (kind, a, b, flag) in enumerate(script):
            before, entries_before = lots_now(session), last_entry(session)
            with clock.frozen(now), session.begin_nested() as step:
                try:
                    if kind == "order":
                        payments = (
                            [{"method": "wechat_pay", "amount": b}]
                            if not flag
                            else [
                                {"method": "wechat_pay", "amount": b - b // 3},
                                {"method": "coupon", "amount": b // 3},
                            ]
                        )
                        items = [
                            {
                                "sku": "S",
                                "name": "s",
                                "quantity": 3,
                                "unit_price": b // 3,
                                "discount": 0,
                                "paid": b // 3 * 3,
                            }
                        ]
                        payments[0]["amount"] += b // 3 * 3 - b
                        body = order_body(
                            other_store if b % 2 else store,
                            f"H{number}",
                            items=items,
                            payments=payments,
                            member_id=ids[a],
                            occurred_at=now.isoformat(),
                        )
                        order_ids.append(
                            orders.create_order(
                                session, SYSTEM, OrderCreate.model_validate(body)
                            ).id
                        )
                    elif kind == "refund" and order_ids:
                        order_id = order_ids[a % len(order_ids)]
                        request = (
                            RefundCreate(all=True)
                            if flag
                            else RefundCreate.model_validate(
                                {
                                    "items": [
                                        {
                                            "line_id": orders.lines_of(session, order_id)[0].id,
                                            "quantity": b,
                                        }
                                    ]
                                }
                            )
                        )
                        orders.refund_order(session, SYSTEM, order_id, request)
                    elif kind == "burn":
                        burning.burn(
                            session,
                            SYSTEM,
                            ids[a],
                            b,
                            "spend",
                            order_id=order_ids[-1] if flag and order_ids else None,
                        )
                    elif kind == "adjust" and b:
                        adjustments.request_adjustment(session, SYSTEM, ids[a], b, "fix")
                    elif kind == "advance":
                        now += timedelta(days=a)
                        jobs.run(session, now)
                        check_nothing_due(session, now)
                    elif (
                        kind == "merge"
                        and a != b
                        and registry.find_active(session, ids[a])
                        and registry.find_active(session, ids[b])
                    ):
                        member_merge.merge_members(session, SYSTEM, ids[a], ids[b])
                except PatronError:
                    step.rollback()  # a refused request changes nothing, as at the API edge
            check_invariants(session, ids, now)
            check_expiry(session, before, entries_before)
        savepoint.rollback()
