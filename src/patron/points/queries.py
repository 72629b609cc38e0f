"""Reading the ledger: balances, entries, liability, verification, and what a member's
export and timeline show of points."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.daily import BusinessDays
from patron.core.pagination import PageResult, paginate
from patron.members import privacy, timeline
from patron.members.models import Member
from patron.points import settling
from patron.points.models import (
    EntryKind,
    LotStatus,
    PointsAccount,
    PointsEntry,
    PointsLot,
)
from patron.points.policy import get_policy


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    debt: int
    expiring: list[tuple[datetime, int]]


def balance(session: Session, member_id: int) -> Balance:
    """Read-only: lots the job has not yet released or expired are counted as they are now."""
    now = clock.now()
    lots = session.scalars(
        select(PointsLot).where(
            PointsLot.member_id == member_id,
            PointsLot.remaining > 0,
            settling.status_is(LotStatus.available, LotStatus.pending),
            or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
        )
    ).all()
    held = [
        lot
        for lot in lots
        if lot.status == LotStatus.pending and lot.release_at and lot.release_at > now
    ]
    spendable = [lot for lot in lots if lot not in held]
    expiring: dict[datetime, int] = defaultdict(int)
    for lot in spendable:
        if lot.expires_at is not None:
            expiring[lot.expires_at] += lot.remaining
    account = session.get(PointsAccount, member_id)
    available, debt = sum(lot.remaining for lot in spendable), account.debt if account else 0
    # Lots due for release but not yet released pay an open debt first when they are.
    paid = min(available, debt)
    return Balance(
        available=available - paid,
        pending=sum(lot.remaining for lot in held),
        debt=debt - paid,
        expiring=sorted(expiring.items())[:5],
    )


def entries(
    session: Session, member_id: int, cursor: str | None, limit: int
) -> PageResult[PointsEntry]:
    return paginate(
        session,
        select(PointsEntry).where(PointsEntry.member_id == member_id),
        PointsEntry.id,
        cursor,
        limit,
    )


def spendable_balances(session: Session, minimum: int) -> list[tuple[int, int]]:
    """(member, available) for members with at least `minimum` available, by member id."""
    rows = session.execute(
        select(PointsAccount.member_id, PointsAccount.available)
        .where(PointsAccount.available >= minimum)
        .order_by(PointsAccount.member_id)
    )
    return [(member_id, available) for member_id, available in rows]


@dataclass(frozen=True)
class Mismatch:
    member_id: int
    cached: tuple[int, int, int]
    from_lots: tuple[int, int]
    ledger: int


def verify(session: Session) -> list[Mismatch]:
    """Every member whose cached balances disagree with their lots or their ledger."""
    lots: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for member_id, status, remaining in session.execute(
        select(PointsLot.member_id, PointsLot.status, func.sum(PointsLot.remaining)).group_by(
            PointsLot.member_id, PointsLot.status
        )
    ):
        lots[member_id][status] = int(remaining or 0)
    ledger = {
        m: int(p or 0)
        for m, p in session.execute(
            select(PointsEntry.member_id, func.sum(PointsEntry.points)).group_by(
                PointsEntry.member_id
            )
        )
    }
    accounts = {a.member_id: a for a in session.scalars(select(PointsAccount))}
    found = []
    for member_id in sorted(set(lots) | set(ledger) | set(accounts)):
        account = accounts.get(member_id)
        cached = (account.available, account.pending, account.debt) if account else (0, 0, 0)
        from_lots = (lots[member_id][LotStatus.available], lots[member_id][LotStatus.pending])
        total = ledger.get(member_id, 0)
        if cached[:2] != from_lots or total != cached[0] + cached[1] - cached[2]:
            found.append(Mismatch(member_id, cached, from_lots, total))
    return found


@privacy.export_sections.register("points")
def _export_points(session: Session, member: Member) -> dict[str, Any]:
    now = balance(session, member.id)
    history = session.scalars(
        select(PointsEntry).where(PointsEntry.member_id == member.id).order_by(PointsEntry.id)
    )
    return {
        "available": now.available,
        "pending": now.pending,
        "debt": now.debt,
        "entries": [
            {"kind": e.kind, "points": e.points, "reason": e.reason, "at": e.created_at.isoformat()}
            for e in history
        ],
    }


@timeline.timeline_sources.register("points")
def _points_events(session: Session, member: Member) -> list[timeline.TimelineEvent]:
    rows = session.scalars(
        select(PointsEntry)
        .where(PointsEntry.member_id == member.id, PointsEntry.kind != EntryKind.earn.value)
        .order_by(PointsEntry.id.desc())
        .limit(30)
    )
    return [
        timeline.TimelineEvent(
            e.created_at,
            "points",
            e.kind,
            {
                "points": e.points,
                "reason": e.reason,
                "merge_partner_id": e.merge_partner_id,
                "debt_paid": e.debt_paid,
            },
        )
        for e in rows
    ]


@dataclass(frozen=True)
class Liability:
    points: int
    cash_value_fen: int
    by_expiry_month: dict[str, int]
    by_store: dict[int | None, int]


def liability(session: Session, store_ids: frozenset[int] | None = None) -> Liability:
    """Outstanding points (spendable and pending, not yet expired) and what they are worth;
    with `store_ids`, of the lots earned at those stores only. Lots expire at the end of a
    day, so grouping by the expiry time makes few groups."""
    now, policy = clock.now(), get_policy(session)
    query = (
        select(PointsLot.expires_at, PointsLot.store_id, func.sum(PointsLot.remaining))
        .where(
            PointsLot.remaining > 0,
            PointsLot.status.in_([LotStatus.available.value, LotStatus.pending.value]),
            or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
        )
        .group_by(PointsLot.expires_at, PointsLot.store_id)
    )
    if store_ids is not None:
        query = query.where(PointsLot.store_id.in_(store_ids))
    rows = session.execute(query)
    by_month: dict[str, int] = defaultdict(int)
    by_store: dict[int | None, int] = defaultdict(int)
    for expires_at, store_id, points in rows:
        month = (
            expires_at.astimezone(clock.business_tz()).strftime("%Y-%m") if expires_at else "never"
        )
        by_month[month] += int(points)
        by_store[store_id] += int(points)
    total = sum(by_store.values())
    return Liability(
        total,
        total * 100 // policy.points_per_yuan_value,
        dict(sorted(by_month.items())),
        dict(by_store),
    )


def available_balances() -> Select[int, int]:
    """(member_id, available) from the cached accounts: the points a member may spend, as the
    release and expiry jobs left them. Members without an account hold none."""
    return select(PointsAccount.member_id, PointsAccount.available.label("available"))


def members_with_points_expiring(start: datetime, end: datetime) -> Select[int]:
    """Members holding available points (some left) that expire in [start, end)."""
    return (
        select(PointsLot.member_id)
        .where(
            PointsLot.status == LotStatus.available.value,
            PointsLot.remaining > 0,
            PointsLot.expires_at >= start,
            PointsLot.expires_at < end,
        )
        .distinct()
    )


def grants_tagged(
    session: Session, prefix: str, member_id: int | None = None
) -> dict[str, dict[int, int]]:
    """Points granted under source references starting with `prefix` (`referral:`), less what
    was taken back: source reference -> member -> net points. Optionally one member's only."""
    query = select(PointsEntry.member_id, PointsEntry.reason, PointsEntry.points).where(
        PointsEntry.kind.in_([EntryKind.grant.value, EntryKind.grant_reversal.value]),
        PointsEntry.reason.like(f"% [{prefix}%]"),
    )
    if member_id is not None:
        query = query.where(PointsEntry.member_id == member_id)
    found: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for holder, reason, points in session.execute(query):
        ref = reason.rsplit(" [", 1)[-1].removesuffix("]")
        found[ref][holder] += points
    return {ref: dict(members) for ref, members in found.items()}


def ledger_by_day(days: BusinessDays) -> Select[*tuple[Any, ...]]:
    """Per business day of `days` and store (0: none): points earned, burned and expired, net
    of their reversals, and the rest (adjustments, debt) signed; merges move points between
    members and are left out."""
    day = days.of(PointsEntry.created_at).label("day")
    store = func.coalesce(PointsEntry.store_id, 0).label("store_id")
    return (
        select(
            day,
            store,
            _sum_of(PointsEntry.points, EARNED).label("points_earned"),
            (-_sum_of(PointsEntry.points, BURNED)).label("points_burned"),
            (-_sum_of(PointsEntry.points, (EntryKind.expire,))).label("points_expired"),
            _sum_of(PointsEntry.points, OTHER).label("points_adjusted"),
        )
        .where(days.holds(PointsEntry.created_at))
        .group_by(day, store)
    )


EARNED = (
    EntryKind.earn,
    EntryKind.grant,
    EntryKind.refund_reversal,
    EntryKind.grant_reversal,
)
BURNED = (EntryKind.burn, EntryKind.refund_restore)
OTHER = (EntryKind.adjust, EntryKind.debt_payment)


def _sum_of(amount: Any, kinds: Sequence[EntryKind]) -> ColumnElement[int]:
    return func.coalesce(
        func.sum(case((PointsEntry.kind.in_([k.value for k in kinds]), amount), else_=0)), 0
    )


def days_changed_since(days: BusinessDays, entry_id: int) -> Select[*tuple[Any, ...]]:
    """The business days of the entries past `entry_id`."""
    return select(days.of(PointsEntry.created_at)).where(PointsEntry.id > entry_id).distinct()


def last_entry_id() -> Select[*tuple[int | None]]:
    return select(func.max(PointsEntry.id))
