"""The outbox relay: reads undispatched outbox rows in id order, makes one delivery per enabled
endpoint that subscribes to the row's type, and marks the rows dispatched, in one transaction;
the deliveries are queued once it commits.

At-least-once, never duplicated: a row is marked only in the transaction that made its
deliveries (a relay that dies before committing leaves it for the next round), and a delivery is
unique per (endpoint, event), so a row read twice adds nothing. On PostgreSQL concurrent relays
skip each other's locked rows; on SQLite the write lock taken at BEGIN serialises them. Rows are
dispatched even when no endpoint wants them, so that outbox pruning goes on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from patron.core.db import insert_or_skip
from patron.core.events import OUTBOX
from patron.webhooks import payloads
from patron.webhooks.models import WebhookDelivery, WebhookEndpoint

BATCH = 500  # outbox rows a round takes
DELIVERIES = cast(Table, WebhookDelivery.__table__)
ALL = "*"


@dataclass(frozen=True)
class Round:
    taken: int  # outbox rows dispatched
    delivery_ids: list[int]  # deliveries made (to queue after commit)

    @property
    def full(self) -> bool:
        return self.taken >= BATCH


def waiting(session: Session) -> bool:
    """Whether any outbox row awaits dispatch (one index lookup)."""
    query = select(OUTBOX.c.id).where(OUTBOX.c.delivered_at.is_(None)).limit(1)
    return session.scalar(query) is not None


def relay_round(session: Session, now: datetime, limit: int = BATCH) -> Round:
    query = (
        select(OUTBOX.c.id, OUTBOX.c.type, OUTBOX.c.payload, OUTBOX.c.occurred_at)
        .where(OUTBOX.c.delivered_at.is_(None))
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return Round(0, [])
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types, WebhookEndpoint.pii)
        .where(WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
    values: list[dict[str, Any]] = []
    for row in rows:
        bodies: dict[str, dict[str, Any]] = {}
        for endpoint in endpoints:
            if ALL not in endpoint.event_types and row.type not in endpoint.event_types:
                continue
            body = bodies.get(endpoint.pii)
            if body is None:
                body = bodies[endpoint.pii] = payloads.envelope(
                    row.id, row.type, row.occurred_at, row.payload, endpoint.pii
                )
            values.append(
                {
                    "endpoint_id": endpoint.id,
                    "event_id": row.id,
                    "event_type": row.type,
                    "payload": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "error": "",
                    "created_at": now,
                }
            )
    delivery_ids: list[int] = []
    if values:
        insert = (
            insert_or_skip(session, DELIVERIES)
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
            .returning(DELIVERIES.c.id)
        )
        delivery_ids = list(session.scalars(insert, values))
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_([row.id for row in rows]))
        .values(delivered_at=now, attempts=OUTBOX.c.attempts + 1)
    )
    return Round(len(rows), sorted(delivery_ids))
