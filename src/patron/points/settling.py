"""Settling due lots, one rule for the scheduled job and for a member's own spend: pending lots
due for release become available and lots due to expire lose what remains in them, with one
`expire` entry per member and earning store. Set-based statements over the members given, who
must have their accounts locked already; running it twice for the same `now` changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from patron.core.db import UTCDateTime
from patron.points import events as points_events
from patron.points.models import EntryKind, LotStatus, PointsAccount, PointsEntry, PointsLot

ACCOUNTS = cast(Table, PointsAccount.__table__)
LOTS = cast(Table, PointsLot.__table__)
ENTRIES = cast(Table, PointsEntry.__table__)

Members = Sequence[int] | Select[int]


@dataclass(frozen=True)
class Settled:
    released_lots: int
    expired_lots: int
    expired_points: int


def status_is(*statuses: LotStatus) -> ColumnElement[bool]:
    """The lot has one of `statuses`. Written into the SQL, not bound: a partial index of lots
    (models.PointsLot) serves a query only when the query names the statuses itself."""
    return or_(*(LOTS.c.status == literal(s.value, literal_execute=True) for s in statuses))


def due_release(now: datetime) -> ColumnElement[bool]:
    return and_(status_is(LotStatus.pending), LOTS.c.release_at <= now)


def due_expiry(now: datetime) -> ColumnElement[bool]:
    return and_(status_is(LotStatus.available), LOTS.c.expires_at <= now)


def settle(session: Session, now: datetime, members: Members) -> Settled:
    """Release, then expire (a lot released late may be due to expire too), the members' due
    lots. Lots and accounts this session had loaded are refreshed when next read."""
    session.flush()
    ours = LOTS.c.member_id.in_(members)
    if not session.scalar(select(exists().where(ours, or_(due_release(now), due_expiry(now))))):
        return Settled(0, 0, 0)
    released = _release(session, and_(ours, due_release(now)))
    expired_lots, expired_points = _expire(session, and_(ours, due_expiry(now)), now, members)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, PointsLot | PointsAccount):
            session.expire(loaded)
    return Settled(released, expired_lots, expired_points)


def _release(session: Session, due: ColumnElement[bool]) -> int:
    moved = (
        select(LOTS.c.member_id, func.sum(LOTS.c.remaining).label("points"))
        .where(due)
        .group_by(LOTS.c.member_id)
        .subquery()
    )
    session.execute(
        update(ACCOUNTS)
        .where(ACCOUNTS.c.member_id == moved.c.member_id)
        .values(
            pending=ACCOUNTS.c.pending - moved.c.points,
            available=ACCOUNTS.c.available + moved.c.points,
        )
    )
    result = session.execute(update(LOTS).where(due).values(status=LotStatus.available.value))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _expire(
    session: Session, due: ColumnElement[bool], now: datetime, members: Members
) -> tuple[int, int]:
    """One entry per member and earning store (the ledger keeps the store whose points lapsed),
    then the accounts lose exactly what those entries say, then the lots."""
    before = session.scalar(select(func.coalesce(func.max(ENTRIES.c.id), 0)))
    lost = func.sum(LOTS.c.remaining)
    session.execute(
        insert(ENTRIES).from_select(
            ["member_id", "kind", "points", "store_id", "operator", "reason", "lapsed"]
            + ["created_at"],
            select(
                LOTS.c.member_id,
                literal(EntryKind.expire.value),
                -lost,
                LOTS.c.store_id,
                literal("system"),
                literal("expired"),
                literal(0),
                literal(now, UTCDateTime()),
            )
            .where(due)
            .group_by(LOTS.c.member_id, LOTS.c.store_id)
            .having(lost > 0)
            .order_by(LOTS.c.member_id, LOTS.c.store_id),
        )
    )

    # The entries just written: nobody else writes entries for these members while their
    # accounts are locked, and every earlier one has a smaller id.
    def written_in(entries: Table) -> ColumnElement[bool]:
        return and_(
            entries.c.id > before,
            entries.c.kind == EntryKind.expire.value,
            entries.c.member_id.in_(members),
        )

    written = written_in(ENTRIES)
    gone = (
        select(ENTRIES.c.member_id, func.sum(ENTRIES.c.points).label("points"))
        .where(written)
        .group_by(ENTRIES.c.member_id)
        .subquery()
    )
    session.execute(
        update(ACCOUNTS)
        .where(ACCOUNTS.c.member_id == gone.c.member_id)
        .values(available=ACCOUNTS.c.available + gone.c.points)
    )
    points = session.scalar(select(func.coalesce(-func.sum(ENTRIES.c.points), 0)).where(written))
    if points:
        points_events.publish_written(session, ENTRIES, ACCOUNTS, written_in, now)
    result = session.execute(
        update(LOTS).where(due).values(remaining=0, status=LotStatus.expired.value)
    )
    return int(result.rowcount or 0), int(points or 0)  # type: ignore[attr-defined]
