"""The journeys' scheduled work: every minute, walk the entries that are due; daily at 09:00
business time, enter the members whose date came (birthdays, dormancy, expiring points and
coupons, no purchase since a coupon)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.journeys import runner, triggers
from patron.schedule.registry import EVERY_MINUTE, Job, daily, register

# A minute's run walks at most this many entries; the rest wait for the next minute.
ENTRIES_PER_RUN = 5_000


def advance(session: Session, now: datetime) -> str:
    total = runner.Advanced()
    while total.entries < ENTRIES_PER_RUN:
        done = runner.advance(session, now, min(runner.BATCH, ENTRIES_PER_RUN - total.entries))
        total.entries += done.entries
        total.steps += done.steps
        total.ended += done.ended
        if done.entries < runner.BATCH:
            break
    return f"{total.entries} entries advanced, {total.steps} steps, {total.ended} ended"


def enter_dated(session: Session, now: datetime) -> str:
    entered = triggers.enter_dated(session, now)
    return f"{sum(entered.values())} members entered {len(entered)} journeys"


register(Job("journeys.advance", EVERY_MINUTE, advance, "Walk journey entries that are due"))
register(
    Job(
        "journeys.enter_dated",
        daily(9),
        enter_dated,
        "Enter members into journeys triggered by a date (birthday, dormant, expiring points "
        "or coupons, no purchase since a coupon)",
    )
)
