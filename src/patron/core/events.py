"""Domain events: published inside the transaction that caused them, handed to in-process
subscribers at once, and written to an outbox so webhooks can deliver them after commit. Each
event type names its payload type (a frozen dataclass in the publishing domain's events.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Select,
    String,
    Table,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import ClauseElement

from patron.core import clock, statements
from patron.core.db import Base, UTCDateTime
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
        # A subscriber's form for many events at once (set-based work), registered under the
        # name of the per-event subscriber it stands in for; `publish_many` calls it instead.
        self.batch_subscribers: Hook[Callable[[Session, Sequence[Event[PayloadT]]], None]] = Hook(
            name
        )
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
    pending = session.info.get(_BATCH)
    if pending is None:
        statements.insert_rows(session, OUTBOX, [row])
    else:
        pending.append(row)
    for handler in event_type.subscribers:
        handler(session, event)
    return event


def publish_many(
    session: Session,
    event_type: EventType[PayloadT],
    events: Sequence[Event[PayloadT]],
    *,
    outbox_written: bool = False,
) -> None:
    """Publish many events of one type at once (a job's set-based changes): their outbox rows
    in one INSERT (none when the caller wrote them set-based: `outbox_written`), then each
    subscriber once for all of them where it has a batch form (`batch_subscribers`, under its
    own name), else once per event. What each subscriber does is what `publish` would have it
    do for each event in turn; only the order across subscribers differs (a subscriber sees
    every event before the next subscriber sees any)."""
    if not events:
        return
    if not outbox_written:
        rows = [
            {
                "type": event_type.name,
                "entity_id": e.entity_id,
                "payload": to_jsonable_python(e.payload),
                "occurred_at": e.occurred_at,
                "attempts": 0,
            }
            for e in events
        ]
        pending = session.info.get(_BATCH)
        if pending is None:
            statements.insert_rows(session, OUTBOX, rows)
        else:
            pending.extend(rows)
    many = dict(event_type.batch_subscribers.items())
    for name, handler in event_type.subscribers.items():
        together = many.get(name)
        if together is not None:
            together(session, events)
            continue
        for event in events:
            handler(session, event)


_BATCH = "patron.events.batch"


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Collect the outbox rows of every event published inside the block (its subscribers'
    events included) and write them in one INSERT when it ends, in the order published: a hot
    path (order intake, a refund) spends one statement on its events however many there are.
    Subscribers still run at once. Nested blocks join the outermost; a block left by an error
    writes nothing (the transaction is going to roll back)."""
    if _BATCH in session.info:
        yield
        return
    rows: list[dict[str, Any]] = []
    session.info[_BATCH] = rows
    try:
        yield
    finally:
        session.info.pop(_BATCH, None)
    statements.insert_rows(session, OUTBOX, rows)


def write_pending(session: Session) -> None:
    """Write the rows a batch collected so far (before a set-based publish, to keep the order)."""
    pending = session.info.get(_BATCH)
    if pending:
        statements.insert_rows(session, OUTBOX, list(pending))
        pending.clear()


def json_object(session: Session, fields: dict[str, Any]) -> Any:
    """A SQL expression building a JSON object of `fields` (name: SQL expression or value) on
    either database, typed as the outbox's payload column."""
    arguments: list[Any] = []
    for name, value in fields.items():
        assert name.isidentifier()
        arguments += [literal_column(f"'{name}'"), _sql_value(value)]
    if session.get_bind().dialect.name == "postgresql":
        return func.json_build_object(*arguments, type_=JSON)
    return type_coerce(func.json_object(*arguments), JSON)


def _sql_value(value: Any) -> Any:
    """A Python value typed for the SQL (PostgreSQL types no bare parameter in a JSON build)."""
    if isinstance(value, ClauseElement):
        return value
    if value is None:
        return null()
    if isinstance(value, bool):
        return sql_cast(literal(value), Boolean)
    if isinstance(value, int):
        return sql_cast(literal(value), BigInteger)
    return sql_cast(literal(str(value)), String)


def publish_from(
    session: Session,
    event_type: EventType[Any],
    query: Select[Any],
    now: datetime,
    *,
    subscribers_skipped: bool = False,
) -> int:
    """Set-based publishing: one outbox row per row of `query`, which selects the entity id and
    the payload (`json_object`), in one INSERT … SELECT. In-process subscribers are not called
    (a set-based path's events have none: the caller checks, or says with `subscribers_skipped`
    that they do not apply to its events). Returns how many were written."""
    if not subscribers_skipped:
        assert not list(event_type.subscribers), f"{event_type.name} has in-process subscribers"
    write_pending(session)
    rows = query.subquery()
    entity, payload = rows.c
    result = session.execute(
        insert(OUTBOX).from_select(
            ["type", "entity_id", "payload", "occurred_at", "attempts"],
            select(
                literal(event_type.name),
                sql_cast(entity, String),
                payload,
                literal(now, UTCDateTime()),
                literal(0),
            ),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
