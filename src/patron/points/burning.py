"""Spending points, earliest-expiring lots first; paying part of an order with them. An order
intake pays with points through `authorize` (before the order is written: the balance under the
account's lock) and `take` (after: the burn entry tied to the order), as stored value does."""

from __future__ import annotations

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
    settle_due,
    spendable_lots,
)
from patron.points.errors import InsufficientPoints
from patron.points.models import (
    EntryKind,
    PointsAccount,
    PointsEntry,
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
) -> PointsEntry:
    """Spend points, earliest-expiring lots first."""
    policy, now = get_policy(session), clock.now()
    if points < policy.min_burn:
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
