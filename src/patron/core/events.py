"""Domain events: published inside the transaction that caused them, handed to in-process
subscribers at once, and written to an outbox so webhooks can deliver them after commit. Each
event type names its payload type (a frozen dataclass in the publishing domain's events.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, Index, String, Table, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from patron.core import clock, statements
from patron.core.db import Base
from patron.core.hooks import Hook

log = logging.getLogger("patron.events")
PayloadT = TypeVar("PayloadT")


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_undelivered", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now)
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)


OUTBOX = cast(Table, OutboxEvent.__table__)


@dataclass(frozen=True)
class Event(Generic[PayloadT]):
    type: str
    entity_id: str
    payload: PayloadT
    occurred_at: datetime


class EventType(Generic[PayloadT]):
    """A kind of event and its subscribers, which run in the publisher's transaction. Every
    type made is known by name in EVENT_TYPES (what webhook endpoints may subscribe to)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.subscribers: Hook[Callable[[Session, Event[PayloadT]], None]] = Hook(name)
        EVENT_TYPES[name] = self


EVENT_TYPES: dict[str, EventType[Any]] = {}


def publish(
    session: Session, event_type: EventType[PayloadT], entity_id: object, payload: PayloadT
) -> Event[PayloadT]:
    """Record the event in the outbox and run its subscribers; a subscriber's error aborts the
    whole transaction, so an order is never kept without what its events must cause."""
    event = Event(event_type.name, str(entity_id), payload, clock.now())
    row = {
        "type": event.type,
        "entity_id": event.entity_id,
        "payload": to_jsonable_python(payload),
        "occurred_at": event.occurred_at,
        "attempts": 0,
    }
    statements.insert_rows(session, OUTBOX, [row])
    for handler in event_type.subscribers:
        handler(session, event)
    return event


def prune_delivered(session: Session, now: datetime, retention: timedelta) -> int:
    """The outbox job: delete rows delivered more than `retention` before `now`; undelivered rows
    stay whatever their age, and so does the newest row: SQLite gives a new row the highest id
    plus one, and an emptied table would hand out ids again that webhook receivers have seen
    (`evt_<id>`, their de-duplication key). Returns how many went."""
    cutoff = now - retention
    newest = select(func.max(OutboxEvent.id)).scalar_subquery()
    result = session.execute(
        delete(OutboxEvent).where(
            OutboxEvent.delivered_at.is_not(None),
            OutboxEvent.delivered_at < cutoff,
            OutboxEvent.id < newest,
        )
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
