"""Manual adjustments: small ones apply at once, large ones wait for a second HQ user."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import Conflict, Forbidden, InvalidInput
from patron.core.reasons import Reason
from patron.members import merge as member_merge
from patron.points import events as points_events
from patron.points.accounts import (
    MAX_BALANCE,
    add_entry,
    draw,
    lock_accounts,
    settle_due,
    spendable_lots,
)
from patron.points.errors import AdjustmentNotFound, InsufficientPoints
from patron.points.models import (
    AdjustmentStatus,
    EntryKind,
    LotStatus,
    PointsAdjustment,
    PointsLot,
)
from patron.points.permissions import DECIDE_ADJUSTMENT, REQUEST_ADJUSTMENT
from patron.points.policy import expiry_for, get_policy
from patron.stores import service as stores


def request_adjustment(
    session: Session,
    actor: Actor,
    member_id: int,
    points: int,
    reason: str,
    store_id: int | None = None,
) -> PointsAdjustment:
    """Small adjustments apply at once; from the approval size up they wait for a second HQ user."""
    REQUEST_ADJUSTMENT.check(actor)
    if points == 0:
        raise InvalidInput(
            "points", "an adjustment moves at least one point", code=Reason.zero_points
        )
    if not reason.strip():
        raise InvalidInput("reason", "an adjustment needs a reason", code=Reason.missing)
    stores.check_bookable(session, actor, store_id)
    policy = get_policy(session)
    # Under the member's account lock, so two requests at once cannot both pass as small.
    lock_accounts(session, [member_id], active=True)
    earlier = _recent_points(session, actor, member_id, policy.approval_window_hours)
    adjustment = PointsAdjustment(
        member_id=member_id,
        points=points,
        reason=reason.strip(),
        status=AdjustmentStatus.pending.value,
        store_id=store_id,
        requested_by=actor.name,
        requested_by_id=actor.id if actor.kind == "staff" else None,
    )
    session.add(adjustment)
    session.flush()
    audit.record(
        session,
        actor,
        "points.adjustment_request",
        "points_adjustment",
        adjustment.id,
        store_id=store_id,
        after={"member_id": member_id, "points": points, "reason": adjustment.reason},
    )
    if earlier + abs(points) < policy.approval_threshold:
        _apply(session, actor, adjustment)
    return adjustment


def _recent_points(session: Session, actor: Actor, member_id: int, window_hours: int) -> int:
    """The points this requester moved (either way, rejected ones aside) for this member within
    the window: they count toward the approval threshold with the next request."""
    by_requester = (
        PointsAdjustment.requested_by_id == actor.id
        if actor.kind == "staff"
        else PointsAdjustment.requested_by == actor.name
    )
    total = session.scalar(
        select(func.coalesce(func.sum(func.abs(PointsAdjustment.points)), 0)).where(
            PointsAdjustment.member_id == member_id,
            by_requester,
            PointsAdjustment.status != AdjustmentStatus.rejected.value,
            PointsAdjustment.created_at >= clock.now() - timedelta(hours=window_hours),
        )
    )
    return int(total or 0)


def decide_adjustment(
    session: Session, actor: Actor, adjustment_id: int, approve: bool
) -> PointsAdjustment:
    DECIDE_ADJUSTMENT.check(actor)
    owner = session.scalar(
        select(PointsAdjustment.member_id).where(PointsAdjustment.id == adjustment_id)
    )
    if owner is None:
        raise AdjustmentNotFound(f"no adjustment {adjustment_id}")
    # The member before the adjustment's row (the global lock order): a merge moving a pending
    # adjustment to its survivor holds the member first.
    member_merge.hold_survivor(session, owner)
    adjustment = session.scalars(
        select(PointsAdjustment)
        .where(PointsAdjustment.id == adjustment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if adjustment.status != AdjustmentStatus.pending:
        raise Conflict(f"adjustment {adjustment_id} is {adjustment.status} already")
    if actor.kind == "staff" and actor.id == adjustment.requested_by_id:
        raise Forbidden("a second HQ user must approve or reject this adjustment")
    if approve:
        _apply(session, actor, adjustment)
    else:
        adjustment.status = AdjustmentStatus.rejected.value
        adjustment.decided_by, adjustment.decided_at = actor.name, clock.now()
    audit.record(
        session,
        actor,
        "points.adjustment_" + ("approve" if approve else "reject"),
        "points_adjustment",
        adjustment.id,
        store_id=adjustment.store_id,
    )
    session.flush()
    return adjustment


def _apply(session: Session, actor: Actor, adjustment: PointsAdjustment) -> None:
    now, policy = clock.now(), get_policy(session)
    account = lock_accounts(session, [adjustment.member_id])[adjustment.member_id]
    settle_due(session, account, now)
    reason = adjustment.reason
    if adjustment.points > 0:
        if account.available + account.pending + adjustment.points - account.debt > MAX_BALANCE:
            raise InvalidInput(
                "points",
                f"a balance holds at most {MAX_BALANCE} points",
                code=Reason.balance_too_large,
            )
        to_debt = min(account.debt, adjustment.points)
        account.debt -= to_debt
        kept = adjustment.points - to_debt
        lot = None
        if kept:
            lot = PointsLot(
                member_id=adjustment.member_id,
                store_id=adjustment.store_id,
                points=kept,
                remaining=kept,
                status=LotStatus.available.value,
                earned_at=now,
                release_at=now,
                expires_at=expiry_for(policy, now),
            )
            session.add(lot)
            session.flush()
            account.available += kept
        entry = add_entry(
            session,
            adjustment.member_id,
            EntryKind.adjust,
            adjustment.points,
            actor.name,
            lot_id=lot.id if lot else None,
            adjustment_id=adjustment.id,
            store_id=adjustment.store_id,
            reason=reason,
        )
    else:
        points = -adjustment.points
        if account.available < points:
            raise InsufficientPoints(
                f"{account.available} points available, {points} to deduct",
                available=account.available,
            )
        entry = add_entry(
            session,
            adjustment.member_id,
            EntryKind.adjust,
            adjustment.points,
            actor.name,
            adjustment_id=adjustment.id,
            store_id=adjustment.store_id,
            reason=reason,
        )
        draw(session, entry, spendable_lots(session, adjustment.member_id, now), points)
        account.available -= points
    points_events.changed(session, entry, account)
    adjustment.status = AdjustmentStatus.applied.value
    adjustment.decided_by, adjustment.decided_at = actor.name, now
    session.flush()


def pending_adjustments(session: Session) -> list[PointsAdjustment]:
    return list(
        session.scalars(
            select(PointsAdjustment)
            .where(PointsAdjustment.status == AdjustmentStatus.pending.value)
            .order_by(PointsAdjustment.id)
        )
    )
