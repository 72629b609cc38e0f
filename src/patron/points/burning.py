"""Spending points, earliest-expiring lots first; paying part of an order with them. An order
intake pays with points through `authorize` (before the order is written: the balance under the
account's lock) and `take` (after: the burn entry tied to the order), as stored value does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.members.errors import MemberNotActive, MemberNotFound
from patron.orders import service as orders
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
from patron.points.errors import InsufficientPoints
from patron.points.models import (
    EntryKind,
    LotStatus,
    PointsAccount,
    PointsAllocation,
    PointsEntry,
    PointsLot,
    PointsPolicy,
)
from patron.points.policy import get_policy
from patron.stores import service as stores


def burn(
    session: Session,
    actor: Actor,
    member_id: int,
    points: int,
    reason: str,
    order_id: int | None = None,
    store_id: int | None = None,
    *,
    minimum: bool = True,
) -> PointsEntry:
    """Spend points, earliest-expiring lots first. Without `minimum`, the policy's least burn
    does not apply (a points-mall item's price is HQ's to set)."""
    policy, now = get_policy(session), clock.now()
    if points <= 0 or (minimum and points < policy.min_burn):
        raise InvalidInput(
            "points", f"at least {policy.min_burn} points per burn", code=Reason.below_min_burn
        )
    stores.check_bookable(session, actor, store_id)
    try:
        account = lock_accounts(session, [member_id], active=True)[member_id]
    except MemberNotActive as exc:  # merged or erased meanwhile: answered as the API's check does
        raise MemberNotFound(f"no active member {member_id}") from exc
    if order_id is not None:
        # After the lock: concurrent burns on one order see each other's points.
        _check_order_share(session, actor, policy, member_id, order_id, points)
    settle_due(session, account, now)
    if account.available < points:
        raise InsufficientPoints(
            f"{account.available} points available, {points} asked", available=account.available
        )
    entry = add_entry(
        session,
        member_id,
        EntryKind.burn,
        -points,
        actor.name,
        order_id=order_id,
        store_id=store_id,
        reason=reason,
    )
    draw(session, entry, spendable_lots(session, member_id, now), points)
    account.available -= points
    points_events.changed(session, entry, account)
    session.flush()
    return entry


def hold(session: Session, member_id: int) -> int:
    """Lock an active member's points account (after the member's row: the global lock order)
    and settle its due lots; answers the points available. A caller checking its own limits
    before a `burn` holds the account from here to the end of its transaction."""
    try:
        account = lock_accounts(session, [member_id], active=True)[member_id]
    except MemberNotActive as exc:
        raise MemberNotFound(f"no active member {member_id}") from exc
    settle_due(session, account, clock.now())
    return account.available


def restore(
    session: Session, burn_id: int, member_id: int, operator: str, reason: str
) -> PointsEntry:
    """Give back the points of one burn (not tied to an order: a points-mall redemption
    cancelled) to `member_id` (who burned them, or the survivor of a merge since) into the lots
    it drew from that are the member's and not expired; what would go back into an expired lot
    lapses. One `refund_restore` entry; the caller restores a burn once."""
    burn_entry = session.get(PointsEntry, burn_id)
    if burn_entry is None or burn_entry.kind != EntryKind.burn:
        raise InvalidInput("burn_id", f"no burn {burn_id}", code=Reason.missing)
    now = clock.now()
    account = lock_accounts(session, [member_id])[member_id]
    settle_due(session, account, now)
    drawn = session.execute(
        select(PointsAllocation.lot_id, PointsAllocation.points)
        .where(PointsAllocation.entry_id == burn_id)
        .order_by(PointsAllocation.id)
    ).all()
    entry = add_entry(
        session,
        member_id,
        EntryKind.refund_restore,
        0,
        operator,
        store_id=burn_entry.store_id,
        reason=reason,
    )
    lots = {
        lot.id: lot
        for lot in session.scalars(
            select(PointsLot).where(PointsLot.id.in_([lot_id for lot_id, _ in drawn]))
        )
    }
    restored = lapsed = 0
    for lot_id, part in drawn:
        lot = lots[lot_id]
        session.add(PointsAllocation(entry_id=entry.id, lot_id=lot_id, points=-part))
        live = lot.status == LotStatus.available and lot.member_id == member_id
        if live and (lot.expires_at is None or lot.expires_at > now):
            lot.remaining += part
            restored += part
        else:
            lapsed += part
    entry.points, entry.lapsed = restored, lapsed
    account.available += restored
    points_events.changed(session, entry, account)
    pay_debt(session, account, now)
    session.flush()
    return entry


def authorize(session: Session, member_id: int, points: int) -> PointsAccount:
    """The member's points account, locked, once its due lots are settled and it holds `points`
    available; 409 insufficient_points. The policy's rules are the caller's (`cash.check`)."""
    account = lock_accounts(session, [member_id], active=True)[member_id]
    settle_due(session, account, clock.now())
    if account.available < points:
        raise InsufficientPoints(
            f"{account.available} points available, {points} asked", available=account.available
        )
    return account


def take(
    session: Session,
    account: PointsAccount,
    points: int,
    *,
    order_id: int,
    store_id: int,
    operator: str,
) -> PointsEntry:
    """Burn `points` of an account `authorize` locked, for the order they pay."""
    entry = add_entry(
        session,
        account.member_id,
        EntryKind.burn,
        -points,
        operator,
        order_id=order_id,
        store_id=store_id,
        reason="order paid with points",
    )
    draw(session, entry, spendable_lots(session, account.member_id, clock.now()), points)
    account.available -= points
    points_events.changed(session, entry, account)
    session.flush()
    return entry


def _check_order_share(
    session: Session,
    actor: Actor,
    policy: PointsPolicy,
    member_id: int,
    order_id: int,
    points: int,
) -> None:
    """Points paying for an order: the member's own order in the caller's stores, and at most the
    policy's share of it."""
    try:
        order = orders.get_order(session, actor, order_id)
    except orders.OrderNotFound as exc:
        raise InvalidInput(
            "order_id", f"no order {order_id} in your scope", code=Reason.unknown_order
        ) from exc
    owner, total = order.member_id, order.total
    if owner != member_id:
        raise InvalidInput(
            "order_id", f"order {order_id} is not this member's", code=Reason.order_of_other_member
        )
    already = -order_sum(session, order_id, EntryKind.burn)
    most = total * policy.max_order_share_pct // 100 * policy.points_per_yuan_value // 100
    if already + points > most:
        raise InvalidInput(
            "points",
            f"points may pay at most {policy.max_order_share_pct}% of the order: {most} points",
            code=Reason.exceeds_order_share,
        )
