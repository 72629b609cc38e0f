"""What the points domain publishes: `points.changed`, one event per ledger entry that moves a
member's balance (earn, burn, expire, refund reversal and restore, adjust, grant and its
reversal, merge in and out). Entries that move none (a debt payment, a restore whose points had
all expired) publish nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.orm import Session

from patron.core import clock, events
from patron.core.events import EventType
from patron.points.models import PointsAccount, PointsEntry


@dataclass(frozen=True)
class PointsChanged:
    member_id: int
    entry_id: int | None  # None where the entry was written in a batch without its id
    kind: str  # points.models.EntryKind
    change: int  # signed points
    balance: int  # after the change: available + pending - debt, what the ledger sums to
    reason: str
    order_id: int | None
    store_id: int | None
    occurred_at: datetime


POINTS_CHANGED: EventType[PointsChanged] = EventType("points.changed")


def changed(session: Session, entry: PointsEntry, account: PointsAccount) -> None:
    """Publish the entry's change, the account (locked, updated in this session) as it is now."""
    if not entry.points:
        return
    balance = account.available + account.pending - account.debt
    facts = {"reason": entry.reason, "order_id": entry.order_id, "store_id": entry.store_id}
    publish(session, entry.member_id, entry.id, entry.kind, entry.points, balance, facts)


def publish(
    session: Session,
    member_id: int,
    entry_id: int | None,
    kind: str,
    change: int,
    balance: int,
    entry: dict[str, Any],
) -> None:
    """Publish a change from an entry's columns (`order_id`, `store_id`, `reason` if given)."""
    if not change:
        return
    payload = PointsChanged(
        member_id=member_id,
        entry_id=entry_id,
        kind=kind,
        change=change,
        balance=balance,
        reason=entry.get("reason") or "",
        order_id=entry.get("order_id"),
        store_id=entry.get("store_id"),
        occurred_at=clock.now(),
    )
    events.publish(session, POINTS_CHANGED, member_id, payload)


def publish_written(
    session: Session,
    entries: Table,
    accounts: Table,
    written: Callable[[Any], ColumnElement[bool]],
    now: datetime,
) -> int:
    """Set-based: one event per entry `written(entries)` selects (the expiry job's, over any
    number of members), in one INSERT … SELECT. Each entry's balance is its account's now less
    the changes of the later entries written with it."""
    later = entries.alias("later")
    after = (
        select(func.coalesce(func.sum(later.c.points), 0))
        .where(
            written(later),
            later.c.member_id == entries.c.member_id,
            later.c.id > entries.c.id,
        )
        .correlate(entries)
        .scalar_subquery()
    )
    balance = accounts.c.available + accounts.c.pending - accounts.c.debt - after
    payload = events.json_object(
        session,
        {
            "member_id": entries.c.member_id,
            "entry_id": entries.c.id,
            "kind": entries.c.kind,
            "change": entries.c.points,
            "balance": balance,
            "reason": entries.c.reason,
            "order_id": entries.c.order_id,
            "store_id": entries.c.store_id,
            "occurred_at": now.isoformat(),
        },
    )
    query = (
        select(entries.c.member_id, payload)
        .join(accounts, accounts.c.member_id == entries.c.member_id)
        .where(written(entries), entries.c.points != 0)
        .order_by(entries.c.id)
    )
    return events.publish_from(session, POINTS_CHANGED, query, now)
