"""The registered jobs and their run records (`job_runs`): which runs the schedule owes, the
last and past runs. Running a job (its transactions) is `patron.schedule.runner`'s."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.pagination import PageResult, paginate
from patron.schedule import registry
from patron.schedule.errors import JobNotFound
from patron.schedule.models import JobRun

# A tick missed (the scheduler checked a little late, the process was restarting) is still run
# when a later check finds it within this many minutes and without a run record.
CATCH_UP_MINUTES = 5
Sessions = Callable[[], Session]


class Trigger(StrEnum):
    schedule = "schedule"
    manual = "manual"


class Status(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


def get_job(name: str) -> registry.Job:
    job = registry.JOBS.get(name)
    if job is None:
        raise JobNotFound(f"no job named {name!r}")
    return job


def minute_tick(moment: datetime) -> datetime:
    """The schedule's tick for a moment: the minute it falls in, in UTC."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def due_runs(session: Session, now: datetime) -> list[tuple[str, datetime]]:
    """The (job, tick) pairs the schedule owes at `now`: each job's newest tick of the last
    CATCH_UP_MINUTES (this minute's included) at which it is due, unless that tick has a run
    record; oldest first, in registry order within a tick. A job that missed several ticks (the
    process was down) runs once, not once a tick: a run does all that is due as of its time."""
    current = minute_tick(now)
    ticks = [current - timedelta(minutes=back) for back in range(CATCH_UP_MINUTES)]
    newest = {
        job.name: tick
        for job in registry.JOBS.values()
        if (tick := next((t for t in ticks if job.cadence.due(t)), None)) is not None
    }
    if not newest:
        return []
    found = session.execute(
        select(JobRun.job, JobRun.tick).where(JobRun.tick >= ticks[-1], JobRun.job.in_(set(newest)))
    )
    claimed = {(name, tick) for name, tick in found}
    owed = [(name, tick) for name, tick in newest.items() if (name, tick) not in claimed]
    return sorted(owed, key=lambda pair: pair[1])  # stable: registry order within a tick


def last_runs(session: Session) -> dict[str, JobRun]:
    """Each job's latest run, by job name."""
    latest = select(func.max(JobRun.id)).group_by(JobRun.job)
    runs = session.scalars(select(JobRun).where(JobRun.id.in_(latest))).all()
    return {run.job: run for run in runs}


def list_runs(session: Session, name: str, cursor: str | None, limit: int) -> PageResult[JobRun]:
    get_job(name)
    return paginate(session, select(JobRun).where(JobRun.job == name), JobRun.id, cursor, limit)


def jobs() -> Sequence[registry.Job]:
    """The jobs in the order `patron.domains` lists the modules registering them (whichever was
    imported first), each module's in the order it registers them."""
    from patron.domains import HOOKED_MODULES

    def place(job: registry.Job) -> int:
        module = job.run.__module__
        return HOOKED_MODULES.index(module) if module in HOOKED_MODULES else len(HOOKED_MODULES)

    return sorted(registry.JOBS.values(), key=place)
