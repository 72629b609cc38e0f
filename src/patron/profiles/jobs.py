"""Scheduled work of profiles: the nightly refresh (everything, set-based), and the facts job
every 5 minutes (raw facts of members with orders or refunds since the last run; nothing is
added to the order path)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.profiles import service
from patron.schedule import registry


def refresh(session: Session, now: datetime) -> str:
    report = service.refresh(session, now)
    clv = "CLV fitted" if report.fit is not None else f"no CLV ({report.clv_skipped})"
    return (
        f"{report.members} profiles, {report.buyers} buyers, {report.scored} RFM-scored, "
        f"{clv}, {report.seconds:.1f} s"
    )


def facts(session: Session, now: datetime) -> str:
    return f"{service.update_facts(session, now)} members' facts updated"


registry.register(
    registry.Job(
        "profiles.refresh",
        registry.daily(2, 0),
        refresh,
        "Rebuild every member's profile: facts, preferences, RFM, lifecycle and CLV.",
    )
)
registry.register(
    registry.Job(
        "profiles.facts",
        registry.every_minutes(5),
        facts,
        "Update the raw facts of members with orders or refunds since the last run.",
    )
)
