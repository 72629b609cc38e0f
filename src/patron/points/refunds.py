"""What a refund does to points: earned points reversed, burned points restored."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock, events
from patron.orders.events import ORDER_REFUNDED, OrderRefunded
from patron.points import events as points_events
from patron.points.accounts import (
    add_entry,
    draw,
    lock_accounts,
    order_sum,
    pay_debt,
    settle_due,
    spendable_lots,
)
from patron.points.models import (
    EntryKind,
    LotStatus,
    PointsAccount,
    PointsAllocation,
    PointsEntry,
    PointsLot,
)


def on_refund(
    session: Session,
    member_id: int,
    order_id: int,
    refund_id: int,
    refunded_total: int,
    order_total: int,
    store_id: int | None,
    points_back: int | None = None,
) -> None:
    """After refunds totalling R of an order that paid P: earned points reversed reach
    floor(E × R / P) and burned points restored (or lapsed) reach floor(B × R / P), or, when
    the order's lines carry the points that paid them, grow by `points_back` (the refunded
    lines' share of their points)."""
    if order_total <= 0:
        return
    now = clock.now()
    account = lock_accounts(session, [member_id])[member_id]
    settle_due(session, account, now)
    earned = order_sum(session, order_id, EntryKind.earn)
    reversed_ = -order_sum(session, order_id, EntryKind.refund_reversal)
    due = earned * refunded_total // order_total - reversed_
    if due > 0:
        _reverse(session, account, order_id, refund_id, due, store_id, now)
    burned = -order_sum(session, order_id, EntryKind.burn)
    handled = order_sum(session, order_id, EntryKind.refund_restore) + order_sum(
        session, order_id, EntryKind.refund_restore, PointsEntry.lapsed
    )
    if points_back is None:
        owed = burned * refunded_total // order_total - handled
    else:
        owed = min(points_back, burned - handled)
    if owed > 0:
        _restore(session, account, order_id, refund_id, owed, store_id, now)
    session.flush()


def _reverse(
    session: Session,
    account: PointsAccount,
    order_id: int,
    refund_id: int,
    points: int,
    store_id: int | None,
    now: datetime,
) -> None:
    """The order's own lots first (pending ones are cancelled), then other spendable lots, and
    what is still missing becomes debt."""
    entry = add_entry(
        session,
        account.member_id,
        EntryKind.refund_reversal,
        -points,
        "system",
        order_id=order_id,
        refund_id=refund_id,
        store_id=store_id,
        reason="order refunded",
    )
    own = list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.order_id == order_id,
                PointsLot.member_id == account.member_id,
                PointsLot.remaining > 0,
            )
            .order_by(PointsLot.id)
        )
    )
    from_pending = draw(
        session, entry, [lot for lot in own if lot.status == LotStatus.pending], points
    )
    account.pending -= from_pending
    from_own = draw(
        session,
        entry,
        [lot for lot in own if lot.status == LotStatus.available],
        points - from_pending,
    )
    account.available -= from_own
    rest = points - from_pending - from_own
    if rest:
        others = [
            lot
            for lot in spendable_lots(session, account.member_id, now)
            if lot.order_id != order_id
        ]
        more = draw(session, entry, others, rest)
        account.available -= more
        account.debt += rest - more
    points_events.changed(session, entry, account)


def _restore(
    session: Session,
    account: PointsAccount,
    order_id: int,
    refund_id: int,
    points: int,
    store_id: int | None,
    now: datetime,
) -> None:
    """Back into the lots the order's burns drew from, while those lots have not expired."""
    burns = select(PointsEntry.id).where(
        PointsEntry.order_id == order_id, PointsEntry.kind == EntryKind.burn.value
    )
    restores = select(PointsEntry.id).where(
        PointsEntry.order_id == order_id, PointsEntry.kind == EntryKind.refund_restore.value
    )
    drawn: dict[int, int] = defaultdict(int)
    for lot_id, part in session.execute(
        select(PointsAllocation.lot_id, PointsAllocation.points).where(
            PointsAllocation.entry_id.in_(burns)
        )
    ):
        drawn[lot_id] += part
    for lot_id, part in session.execute(
        select(PointsAllocation.lot_id, PointsAllocation.points).where(
            PointsAllocation.entry_id.in_(restores)
        )
    ):
        drawn[lot_id] += part  # restore allocations are negative: given back
    entry = add_entry(
        session,
        account.member_id,
        EntryKind.refund_restore,
        0,
        "system",
        order_id=order_id,
        refund_id=refund_id,
        store_id=store_id,
        reason="order refunded",
    )
    restored = lapsed = 0
    lots = {
        lot.id: lot
        for lot in session.scalars(select(PointsLot).where(PointsLot.id.in_(list(drawn)))).all()
    }
    for lot_id in sorted(
        drawn, key=lambda i: (lots[i].expires_at is None, lots[i].expires_at or now, i)
    ):
        left = points - restored - lapsed
        part = min(drawn[lot_id], left)
        if part <= 0:
            continue
        lot = lots[lot_id]
        if lot.status == LotStatus.available and (lot.expires_at is None or lot.expires_at > now):
            lot.remaining += part
            session.add(PointsAllocation(entry_id=entry.id, lot_id=lot.id, points=-part))
            restored += part
        else:
            session.add(PointsAllocation(entry_id=entry.id, lot_id=lot.id, points=-part))
            lapsed += part
    entry.points, entry.lapsed = restored, lapsed
    account.available += restored
    points_events.changed(session, entry, account)
    pay_debt(session, account, now)


@ORDER_REFUNDED.subscribers.register("points.refund")
def _reverse_on_refund(session: Session, event: events.Event[OrderRefunded]) -> None:
    refund = event.payload
    if refund.member_id is None:
        return
    on_refund(
        session,
        refund.member_id,
        refund.order_id,
        refund.refund_id,
        refund.refunded_total,
        refund.order_total,
        refund.store_id,
        refund.points_back,
    )
