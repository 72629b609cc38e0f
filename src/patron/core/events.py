"""Domain events: published inside the transaction that caused them, handed to in-process
subscribers at once, and written to an outbox so webhooks can deliver them after commit."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from patron.core import clock
from patron.core.db import Base

log = logging.getLogger("patron.events")


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


@dataclass(frozen=True)
class Event:
    type: str
    entity_id: str
    payload: dict[str, Any]
    occurred_at: datetime


Subscriber = Callable[[Session, Event], None]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)


def subscribe(event_type: str) -> Callable[[Subscriber], Subscriber]:
    """Run the decorated function for every `event_type`, in the publisher's transaction."""

    def register(handler: Subscriber) -> Subscriber:
        if handler not in _subscribers[event_type]:
            _subscribers[event_type].append(handler)
        return handler

    return register


def unsubscribe(event_type: str, handler: Subscriber) -> None:
    if handler in _subscribers[event_type]:
        _subscribers[event_type].remove(handler)


def publish(session: Session, event_type: str, entity_id: object, payload: dict[str, Any]) -> Event:
    """Record the event in the outbox and run its subscribers; a subscriber's error aborts the
    whole transaction, so an order is never kept without what its events must cause."""
    event = Event(event_type, str(entity_id), payload, clock.now())
    session.add(
        OutboxEvent(
            type=event.type,
            entity_id=event.entity_id,
            payload=payload,
            occurred_at=event.occurred_at,
        )
    )
    for handler in list(_subscribers[event_type]):
        handler(session, event)
    return event
