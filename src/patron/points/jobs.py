"""Scheduled points work for a moment `now`: release pending lots that are due, expire lots that
are due (one `expire` entry per member and earning store), note points expiring within 30 days,
and let released points pay open debts. Set-based SQL, so a million lots take seconds; running it
twice for the same `now` changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from patron.core.db import UTCDateTime, insert_or_skip
from patron.members import merge as member_merge
from patron.points import accounts, settling
from patron.points.models import ExpiryNotice, LotStatus, PointsAccount
from patron.schedule import registry

NOTICE_WINDOW = timedelta(days=30)
NOTICES = cast(Table, ExpiryNotice.__table__)
LOTS = settling.LOTS
# The members with due lots when the run starts, for its length: the job settles exactly the
# members whose accounts it locked, whatever lots arrive meanwhile for others.
DUE_MEMBERS = Table(
    "points_due_members",
    MetaData(),
    Column("member_id", Integer, primary_key=True),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class JobReport:
    released_lots: int
    expired_lots: int
    expired_points: int
    notices: int


def run(session: Session, now: datetime) -> JobReport:
    connection = session.connection()
    DUE_MEMBERS.create(connection)
    session.execute(
        insert(DUE_MEMBERS).from_select(
            ["member_id"],
            select(LOTS.c.member_id)
            .where(or_(settling.due_release(now), settling.due_expiry(now)))
            .distinct(),
        )
    )
    members = select(DUE_MEMBERS.c.member_id)
    _lock(session, members)
    settled = settling.settle(session, now, members)
    DUE_MEMBERS.drop(connection)
    notices = note_expiring(session, now)
    pay_debts(session, now)
    return JobReport(settled.released_lots, settled.expired_lots, settled.expired_points, notices)


def scheduled(session: Session, now: datetime) -> str:
    report = run(session, now)
    return (
        f"{report.released_lots} lots released, {report.expired_lots} lots expired "
        f"({report.expired_points} points), {report.notices} expiry notices"
    )


registry.register(
    registry.Job(
        "points",
        registry.HOURLY,
        scheduled,
        "Release pending points, expire due lots, note points expiring within 30 days, "
        "let released points pay debts.",
    )
)


def _lock(session: Session, members: Select[int]) -> None:
    """The global lock order (see `hold`): the members' rows, then their accounts in primary-key
    order, so the job cannot deadlock with a merge or a refund that locks two accounts."""
    member_merge.hold(session, members)
    locking = (
        select(PointsAccount.member_id)
        .where(PointsAccount.member_id.in_(members))
        .order_by(PointsAccount.member_id)
        .with_for_update()
    )
    session.execute(select(func.count()).select_from(locking.subquery()))


def note_expiring(session: Session, now: datetime) -> int:
    soon = and_(
        settling.status_is(LotStatus.available),
        LOTS.c.remaining > 0,
        LOTS.c.expires_at > now,
        LOTS.c.expires_at <= now + NOTICE_WINDOW,
    )
    statement = (
        insert_or_skip(session, NOTICES)
        .from_select(
            ["member_id", "expires_at", "points", "noticed_at"],
            select(
                LOTS.c.member_id,
                LOTS.c.expires_at,
                func.sum(LOTS.c.remaining),
                literal(now, UTCDateTime()),
            )
            .where(soon)
            .group_by(LOTS.c.member_id, LOTS.c.expires_at),
        )
        .on_conflict_do_nothing(index_elements=["member_id", "expires_at"])
        .execution_options(preserve_rowcount=True)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


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
