"""Scheduled upkeep of the daily facts: every 5 minutes the days that changed since the last
run (and today), and nightly the last week again, for rows committed too late for the
watermarks' margin (a till that synced its day the morning after)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.reports import facts
from patron.schedule import registry


def refresh(session: Session, now: datetime) -> str:
    return f"{facts.refresh(session, now)} days of facts recomputed"


def recompute_week(session: Session, now: datetime) -> str:
    return f"{facts.refresh(session, now, recent=facts.RECENT_DAYS)} days of facts recomputed"


registry.register(
    registry.Job(
        "reports.facts",
        registry.every_minutes(5),
        refresh,
        "Update the reports' daily facts: the days with orders, refunds or ledger entries "
        "since the last run, and today.",
    )
)
registry.register(
    registry.Job(
        "reports.facts_week",
        registry.daily(4, 30),
        recompute_week,
        "Recompute the reports' daily facts of the last 7 days, for rows committed late.",
    )
)
