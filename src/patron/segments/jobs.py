"""The nightly refresh of saved segments: each counted chain-wide, a point of its count history.
It runs after the profiles (02:00) and rule tags (02:30) it reads; running it twice for the same
`now` changes nothing more (the point for that moment is replaced)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.schedule import registry
from patron.segments import service


def scheduled(session: Session, now: datetime) -> str:
    report = service.refresh_all(session, now)
    summary = f"{report.refreshed} segments refreshed"
    if report.failed:
        summary += f", {len(report.failed)} with a rule that no longer parses: "
        summary += ", ".join(report.failed)
    return summary


registry.register(
    registry.Job(
        "segments.refresh",
        registry.daily(2, 45),
        scheduled,
        "Count every saved segment (after profiles and rule tags): its count history.",
    )
)
