"""Scheduled work of tags: every rule tag recomputed nightly, after the profiles' refresh (02:00)
that most rules read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.schedule.registry import Job, daily, register
from patron.tags import rules


def refresh_job(session: Session, now: datetime) -> str:
    done = rules.refresh_all(session, now)
    added = sum(r.added for r in done)
    removed = sum(r.removed for r in done)
    return f"{len(done)} rule tags refreshed: {added} members tagged, {removed} untagged"


register(
    Job(
        "tags.refresh",
        daily(2, 30),
        refresh_job,
        "Recompute every rule tag's members from its rule (after the profiles' refresh).",
    )
)
