"""What the schedule runs. A domain registers its jobs here (in its jobs.py, loaded by
`patron.domains`); the schedule (`patron.schedule.service`) runs each at its cadence with a run
record, and `patron jobs run [NAME] --now` runs them by hand.

A job is `run(session, now) -> summary`: idempotent for the same `now`, in the one transaction it
is given. A loop is background work that never waits for a tick (the outbox relay): one round per
call, returning how many seconds to sleep before the next round."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from patron.core import clock


@dataclass(frozen=True)
class Cadence:
    """Minutes, hours and weekdays a job runs at, read in the business time zone; None = every."""

    minute: int | None = 0
    hour: int | None = None
    label: str = ""
    step: int = 1  # with minute None: every `step` minutes (minutes past the hour divisible by it)

    def due(self, tick: datetime) -> bool:
        local = tick.astimezone(clock.business_tz())
        minute_due = (
            local.minute % self.step == 0 if self.minute is None else local.minute == self.minute
        )
        return minute_due and (self.hour is None or local.hour == self.hour)


EVERY_MINUTE = Cadence(minute=None, label="every minute")
HOURLY = Cadence(minute=0, label="hourly")


def every_minutes(step: int) -> Cadence:
    return Cadence(minute=None, label=f"every {step} minutes", step=step)


def daily(hour: int, minute: int = 0) -> Cadence:
    return Cadence(minute=minute, hour=hour, label=f"daily {hour:02d}:{minute:02d}")


@dataclass(frozen=True)
class Job:
    name: str
    cadence: Cadence
    run: Callable[[Session, datetime], str]
    description: str = ""


JOBS: dict[str, Job] = {}
LOOPS: dict[str, Callable[[], float]] = {}


def register(job: Job) -> Job:
    """Register (or, imported again, replace) a job under its name."""
    JOBS[job.name] = job
    return job


def register_loop(name: str, one_round: Callable[[], float]) -> None:
    LOOPS[name] = one_round
