"""Points given rather than earned: a recharge package's points, later a campaign's. A grant is
available at once, in a lot of its own that expires by the policy, and is taken back whole while
every point of it is still in that lot. The giver's reference (`recharge:12`) closes the
entry's reason in brackets: the ledger has no column for it, and it finds the grant again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, events
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.members import merge as member_merge
from patron.members.models import MemberStatus
from patron.points import events as points_events
from patron.points import settling
from patron.points.accounts import (
    MAX_BALANCE,
    add_entry,
    draw,
    lock_accounts,
    pay_debt,
    settle_due,
)
from patron.points.models import EntryKind, LotStatus, PointsAccount, PointsEntry, PointsLot
from patron.points.policy import expiry_for, get_policy

REASON_LENGTH = 200


def grant_points(
    session: Session,
    actor: Actor,
    member_id: int,
    points: int,
    *,
    reason: str,
    store_id: int | None,
    source_ref: str,
) -> PointsEntry:
    """Credit `points` to an active member as available now, expiring by the policy as earned
    points do; a debt the member owes is paid from them first. 422 balance_too_large past the
    balance limit, nothing written."""
    if points <= 0:
        raise InvalidInput("points", "a grant gives at least one point", code=Reason.zero_points)
    now = clock.now()
    account = lock_accounts(session, [member_id], active=True)[member_id]
    settle_due(session, account, now)
    if account.available + account.pending + points - account.debt > MAX_BALANCE:
        raise InvalidInput(
            "points", f"a balance holds at most {MAX_BALANCE} points", code=Reason.balance_too_large
        )
    to_debt = min(account.debt, points)
    account.debt -= to_debt
    kept = points - to_debt
    lot = None
    if kept:
        lot = PointsLot(
            member_id=member_id,
            store_id=store_id,
            points=kept,
            remaining=kept,
            status=LotStatus.available.value,
            earned_at=now,
            release_at=now,
            expires_at=expiry_for(get_policy(session), now),
        )
        session.add(lot)
        session.flush()
        account.available += kept
    entry = add_entry(
        session,
        member_id,
        EntryKind.grant,
        points,
        actor.name,
        lot_id=lot.id if lot else None,
        store_id=store_id,
        reason=_tagged(reason, source_ref),
        debt_paid=to_debt,
    )
    points_events.changed(session, entry, account)
    audit.record(
        session,
        actor,
        "points.grant",
        "member",
        member_id,
        store_id=store_id,
        after={"points": points, "source_ref": source_ref, "debt_paid": to_debt},
    )
    return entry


def grant_points_many(
    session: Session,
    actor: Actor,
    member_ids: Sequence[int],
    points: int,
    *,
    reason: str,
    source_ref: str,
    store_id: int | None = None,
) -> dict[int, Reason]:
    """`grant_points` to each of many members (a campaign's batch; each named once), as it
    grants: available now, expiring by the policy, a debt paid first. The members are held and
    their accounts locked together in id order, their due lots settled in one pass, the lots and
    entries written in one flush each, their events in one outbox insert, one audit entry for
    the call. Members refused, with why (nothing written for them): `member_not_found` (not
    active), `balance_too_large`."""
    if points <= 0:
        raise InvalidInput("points", "a grant gives at least one point", code=Reason.zero_points)
    ids = sorted(set(member_ids))
    held = member_merge.hold(session, ids)
    active = [i for i in ids if i in held and held[i].status == MemberStatus.active]
    refused = dict.fromkeys(set(ids) - set(active), Reason.member_not_found)
    if not active:
        return refused
    accounts = lock_accounts(session, active)
    now = clock.now()
    settling.settle(session, now, active)
    expires_at = expiry_for(get_policy(session), now)
    tagged = _tagged(reason, source_ref)
    granted: list[tuple[PointsAccount, PointsLot | None, int]] = []
    for member_id in active:
        account = accounts[member_id]
        if account.debt:
            pay_debt(session, account, now)
        if account.available + account.pending + points - account.debt > MAX_BALANCE:
            refused[member_id] = Reason.balance_too_large
            continue
        to_debt = min(account.debt, points)
        account.debt -= to_debt
        kept = points - to_debt
        lot = None
        if kept:
            lot = PointsLot(
                member_id=member_id,
                store_id=store_id,
                points=kept,
                remaining=kept,
                status=LotStatus.available.value,
                earned_at=now,
                release_at=now,
                expires_at=expires_at,
            )
            account.available += kept
        granted.append((account, lot, to_debt))
    session.add_all([lot for _, lot, _ in granted if lot is not None])
    session.flush()
    entries = [
        PointsEntry(
            member_id=account.member_id,
            kind=EntryKind.grant.value,
            points=points,
            operator=actor.name,
            lot_id=lot.id if lot else None,
            store_id=store_id,
            reason=tagged,
            debt_paid=to_debt,
        )
        for account, lot, to_debt in granted
    ]
    session.add_all(entries)
    session.flush()
    with events.batched(session):
        for entry, (account, _, _) in zip(entries, granted, strict=True):
            points_events.changed(session, entry, account)
    audit.record(
        session,
        actor,
        "points.grant",
        "points_grant",
        source_ref,
        store_id=store_id,
        after={
            "members": len(granted),
            "points": points,
            "source_ref": source_ref,
            "refused": len(refused),
        },
    )
    return refused


def take_back(
    session: Session,
    actor: Actor,
    member_id: int,
    source_ref: str,
    *,
    reason: str,
    store_id: int | None,
) -> bool:
    """Take back every point granted to the member under `source_ref`, from the member that
    holds the grants' lots now (a merge moves them). Only while each granted point is still in
    its lot, available and unexpired (none spent, expired, or paying a debt): else False, with
    nothing written. True when nothing was granted under it."""
    survivor = member_merge.hold_survivor(session, member_id)
    account = lock_accounts(session, [survivor])[survivor]
    now = clock.now()
    settle_due(session, account, now)
    grants = list(
        session.scalars(
            select(PointsEntry).where(
                PointsEntry.member_id == member_id,
                PointsEntry.kind == EntryKind.grant.value,
                PointsEntry.points > 0,
                PointsEntry.reason.endswith(_tag(source_ref), autoescape=True),
            )
        )
    )
    lots = [session.get(PointsLot, g.lot_id) if g.lot_id else None for g in grants]
    if not all(_intact(g, lot, survivor, now) for g, lot in zip(grants, lots, strict=True)):
        return False
    total = sum(g.points for g in grants)
    if not total:
        return True
    entry = add_entry(
        session,
        survivor,
        EntryKind.grant_reversal,
        -total,
        actor.name,
        store_id=store_id,
        reason=_tagged(reason, source_ref),
    )
    draw(session, entry, [lot for lot in lots if lot is not None], total)
    account.available -= total
    points_events.changed(session, entry, account)
    session.flush()
    audit.record(
        session,
        actor,
        "points.grant_reversal",
        "member",
        survivor,
        store_id=store_id,
        after={"points": total, "source_ref": source_ref},
    )
    return True


def _intact(grant: PointsEntry, lot: PointsLot | None, holder: int, now: datetime) -> bool:
    return (
        lot is not None
        and lot.member_id == holder
        and lot.status == LotStatus.available
        and lot.points == grant.points
        and lot.remaining == lot.points
        and (lot.expires_at is None or lot.expires_at > now)
    )


def _tag(source_ref: str) -> str:
    return f" [{source_ref}]"


def _tagged(reason: str, source_ref: str) -> str:
    tag = _tag(source_ref)
    return reason[: REASON_LENGTH - len(tag)] + tag
