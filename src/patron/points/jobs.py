"""Scheduled points work for a moment `now`: release pending lots that are due, expire lots that
are due (with `expire` entries), note points expiring within 30 days, and let released points
pay open debts. Set-based SQL, so a million lots take seconds; running it twice for the same `now`
changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Subquery,
    Table,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from patron.core.db import UTCDateTime, insert_or_skip
from patron.members import merge as member_merge
from patron.points import accounts
from patron.points.models import (
    EntryKind,
    ExpiryNotice,
    LotStatus,
    PointsAccount,
    PointsEntry,
    PointsLot,
)

NOTICE_WINDOW = timedelta(days=30)
NOTICES = cast(Table, ExpiryNotice.__table__)


@dataclass(frozen=True)
class JobReport:
    released_lots: int
    expired_lots: int
    expired_points: int
    notices: int


def _lock(session: Session, condition: object) -> None:
    """Lock the accounts whose lots match, in primary-key order, before changing balances; their
    members first (the global lock order, see `hold`)."""
    members = select(PointsLot.member_id).where(condition).distinct()  # type: ignore[arg-type]
    member_merge.hold(session, members)
    session.execute(
        select(PointsAccount.member_id)
        .where(PointsAccount.member_id.in_(members))
        .order_by(PointsAccount.member_id)
        .with_for_update()
    ).all()


def _sums(condition: object) -> Subquery:
    """Per member, the points of the lots matching `condition`."""
    return (
        select(PointsLot.member_id, func.sum(PointsLot.remaining).label("points"))
        .where(condition)  # type: ignore[arg-type]
        .group_by(PointsLot.member_id)
        .subquery()
    )


def _due_release(now: datetime) -> ColumnElement[bool]:
    return and_(PointsLot.status == LotStatus.pending.value, PointsLot.release_at <= now)


def _due_expiry(now: datetime) -> ColumnElement[bool]:
    return and_(PointsLot.status == LotStatus.available.value, PointsLot.expires_at <= now)


def release(session: Session, now: datetime) -> int:
    due = _due_release(now)
    _lock(session, due)
    moved = _sums(due)
    session.execute(
        update(PointsAccount)
        .where(PointsAccount.member_id == moved.c.member_id)
        .values(
            pending=PointsAccount.pending - moved.c.points,
            available=PointsAccount.available + moved.c.points,
        )
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(PointsLot)
        .where(due)
        .values(status=LotStatus.available.value)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def expire(session: Session, now: datetime) -> tuple[int, int]:
    due = _due_expiry(now)
    _lock(session, due)
    points = int(
        session.scalar(select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(due)) or 0
    )
    session.execute(
        insert(PointsEntry).from_select(
            [
                "member_id",
                "kind",
                "points",
                "lot_id",
                "store_id",
                "operator",
                "reason",
                "lapsed",
                "created_at",
            ],
            select(
                PointsLot.member_id,
                literal(EntryKind.expire.value),
                -PointsLot.remaining,
                PointsLot.id,
                PointsLot.store_id,
                literal("system"),
                literal("expired"),
                literal(0),
                literal(now, UTCDateTime()),
            ).where(due, PointsLot.remaining > 0),
        )
    )
    lost = _sums(due)
    session.execute(
        update(PointsAccount)
        .where(PointsAccount.member_id == lost.c.member_id)
        .values(available=PointsAccount.available - lost.c.points)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(PointsLot)
        .where(due)
        .values(remaining=0, status=LotStatus.expired.value)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0), points  # type: ignore[attr-defined]


def note_expiring(session: Session, now: datetime) -> int:
    soon = and_(
        PointsLot.status == LotStatus.available.value,
        PointsLot.remaining > 0,
        PointsLot.expires_at > now,
        PointsLot.expires_at <= now + NOTICE_WINDOW,
    )
    statement = (
        insert_or_skip(session, NOTICES)
        .from_select(
            ["member_id", "expires_at", "points", "noticed_at"],
            select(
                PointsLot.member_id,
                PointsLot.expires_at,
                func.sum(PointsLot.remaining),
                literal(now, UTCDateTime()),
            )
            .where(soon)
            .group_by(PointsLot.member_id, PointsLot.expires_at),
        )
        .on_conflict_do_nothing(index_elements=["member_id", "expires_at"])
    )
    before = session.scalar(select(func.count()).select_from(ExpiryNotice)) or 0
    session.execute(statement)
    return (session.scalar(select(func.count()).select_from(ExpiryNotice)) or 0) - before


def run(session: Session, now: datetime) -> JobReport:
    # Every account the job touches is locked up front, in one primary-key order, so the job
    # cannot deadlock with a merge or a refund that locks two accounts.
    _lock(session, or_(_due_release(now), _due_expiry(now)))
    released = release(session, now)
    expired_lots, expired_points = expire(session, now)
    notices = note_expiring(session, now)
    session.expire_all()  # cached ORM rows are stale after set-based updates
    pay_debts(session, now)
    return JobReport(released, expired_lots, expired_points, notices)


def pay_debts(session: Session, now: datetime) -> None:
    """Released points pay open debts first, as the member's next spend would have made them."""
    owes = and_(PointsAccount.debt > 0, PointsAccount.available > 0)
    member_merge.hold(session, select(PointsAccount.member_id).where(owes))
    owing = session.scalars(
        select(PointsAccount).where(owes).order_by(PointsAccount.member_id).with_for_update()
    ).all()
    for account in owing:
        accounts.pay_debt(session, account, now)
    session.flush()
