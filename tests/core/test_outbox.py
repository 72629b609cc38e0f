from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock, events
from patron.core.events import OutboxEvent
from patron.core.settings import Settings

RETENTION = timedelta(days=30)


def _event(session: Session, name: str, delivered_days_ago: int | None) -> None:
    now = clock.now()
    delivered = None if delivered_days_ago is None else now - timedelta(days=delivered_days_ago)
    session.add(
        OutboxEvent(
            type="order.completed",
            entity_id=name,
            payload={},
            occurred_at=now - timedelta(days=90),
            delivered_at=delivered,
        )
    )


def test_pruning_deletes_only_delivered_events_past_the_retention(session: Session) -> None:
    _event(session, "delivered long ago", 31)
    _event(session, "delivered lately", 29)
    _event(session, "never delivered", None)
    session.flush()
    assert events.prune_delivered(session, clock.now(), RETENTION) == 1
    left = session.scalars(select(OutboxEvent.entity_id).order_by(OutboxEvent.id)).all()
    assert left == ["delivered lately", "never delivered"]
    assert events.prune_delivered(session, clock.now(), RETENTION) == 0


def test_the_retention_defaults_to_30_days() -> None:
    assert Settings(secret_key="x" * 40).outbox_retention_days == 30


def test_pruning_keeps_the_newest_row_so_that_ids_are_never_given_again(
    session: Session,
) -> None:
    _event(session, "old", 40)
    _event(session, "newest, also old", 40)
    session.flush()
    assert events.prune_delivered(session, clock.now(), RETENTION) == 1
    left = session.scalars(select(OutboxEvent.entity_id)).all()
    assert left == ["newest, also old"]
