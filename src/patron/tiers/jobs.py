"""Scheduled tier work for a moment `now` (`patron jobs run`): ended paid terms lapse, members due
for review are reviewed, and today's birthdays get their tier's gift. Running it twice for the
same `now` changes nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from patron.core import clock
from patron.schedule import registry
from patron.tiers import birthdays, paid, review


@dataclass(frozen=True)
class JobReport:
    lapsed: paid.LapseReport
    reviewed: review.ReviewReport
    birthday_gifts: int


def run(session: Session, now: datetime) -> JobReport:
    paid.issue_monthly_coupons(session, now)  # before the lapse: a term's last months too
    lapsed = paid.lapse(session, now)
    reviewed = review.run(session, now)
    gifts = birthdays.give(session, now.astimezone(clock.business_tz()).date())
    return JobReport(lapsed, reviewed, gifts)


def scheduled(session: Session, now: datetime) -> str:
    report = run(session, now)
    return (
        f"{report.reviewed.reviewed} reviewed, {report.reviewed.downgraded} downgraded, "
        f"{report.lapsed.terms} paid terms lapsed ({report.lapsed.changes} tiers fell back), "
        f"{report.birthday_gifts} birthday gifts"
    )


registry.register(
    registry.Job(
        "tiers",
        registry.daily(0, 10),
        scheduled,
        "Lapse ended paid memberships, review tiers due, give today's birthday gifts.",
    )
)
