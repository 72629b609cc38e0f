"""Scheduled work of the core: pruning the outbox of delivered events past their retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.core import events
from patron.core.settings import get_settings
from patron.schedule import registry


def prune_outbox(session: Session, now: datetime) -> str:
    retention = timedelta(days=get_settings().outbox_retention_days)
    pruned = events.prune_delivered(session, now, retention)
    return f"{pruned} delivered events older than {retention.days} days pruned"


registry.register(
    registry.Job(
        "outbox",
        registry.daily(3, 0),
        prune_outbox,
        "Delete delivered outbox events older than the retention (PATRON_OUTBOX_RETENTION_DAYS).",
    )
)
