"""Running the registered jobs, each with a run record (`job_runs`).

A run is two transactions. The first claims it: it inserts the run's row (`running`). A scheduled
run names its tick, and (job, tick) is unique, so a second worker handed the same tick inserts
nothing and does nothing. The second transaction runs the job and marks the row `succeeded`, so
the job's changes and its record commit together. When the job raises, that transaction rolls back
and a fresh one marks the row `failed` with the error. Manual runs (CLI, API, console) have no
tick and always run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, db
from patron.core.actor import Actor
from patron.core.db import insert_or_skip
from patron.core.pagination import PageResult, paginate
from patron.schedule import registry
from patron.schedule.errors import JobFailed, JobNotFound
from patron.schedule.models import JobRun

log = logging.getLogger("patron.schedule")
RUNS = cast(Table, JobRun.__table__)
TEXT_LIMIT = 1000
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


@contextmanager
def _transaction(sessions: Sessions) -> Iterator[Session]:
    with sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def run_job(
    name: str,
    now: datetime,
    trigger: Trigger = Trigger.manual,
    tick: datetime | None = None,
    *,
    actor: Actor | None = None,
    sessions: Sessions | None = None,
) -> JobRun | None:
    """Run the job `name` as of `now`, recorded. A scheduled run of a tick already claimed
    returns None; a failed run raises JobFailed (its record says `failed`)."""
    job = get_job(name)
    now = now.astimezone(UTC)
    tick = tick.astimezone(UTC) if tick is not None else None
    make = sessions or db.session_factory()
    with _transaction(make) as session:
        run_id = _claim(session, job.name, now, trigger, tick)
        if run_id is not None and actor is not None:
            after = {"now": now.isoformat(), "run_id": run_id}
            audit.record(session, actor, "schedule.run_job", "job", job.name, after=after)
    if run_id is None:
        log.info("job %s: tick %s already claimed, skipped", name, tick)
        return None
    try:
        with _transaction(make) as session:
            summary = job.run(session, now)
            _finish(session, run_id, Status.succeeded, summary=summary)
            run = session.get_one(JobRun, run_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.exception("job %s (run %s) failed", name, run_id)
        with _transaction(make) as session:
            _finish(session, run_id, Status.failed, error=error)
            run = session.get_one(JobRun, run_id)
        raise JobFailed(run) from exc
    log.info("job %s (run %s): %s", name, run_id, summary)
    return run


def _claim(
    session: Session, job: str, now: datetime, trigger: Trigger, tick: datetime | None
) -> int | None:
    values = {
        "job": job,
        "tick": tick,
        "ran_for": now,
        "trigger": trigger.value,
        "status": Status.running.value,
        "started_at": clock.now(),
        "summary": "",
        "error": "",
    }
    statement = (
        insert_or_skip(session, RUNS)
        .values(values)
        .on_conflict_do_nothing(index_elements=["job", "tick"])
        .returning(RUNS.c.id)
    )
    return session.scalar(statement)


def _finish(
    session: Session, run_id: int, status: Status, *, summary: str = "", error: str = ""
) -> None:
    session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(
            status=status.value,
            finished_at=clock.now(),
            summary=summary[:TEXT_LIMIT],
            error=error[:TEXT_LIMIT],
        )
    )
    session.expire_all()


def due_runs(session: Session, now: datetime) -> list[tuple[str, datetime]]:
    """The (job, tick) pairs the schedule owes at `now`: each tick of the last CATCH_UP_MINUTES
    (this minute's included) at which a job is due and that has no run record yet, oldest
    first, in registry order within a tick."""
    current = minute_tick(now)
    ticks = [current - timedelta(minutes=back) for back in reversed(range(CATCH_UP_MINUTES))]
    owed = [
        (job.name, tick)
        for tick in ticks
        for job in registry.JOBS.values()
        if job.cadence.due(tick)
    ]
    if not owed:
        return []
    found = session.execute(
        select(JobRun.job, JobRun.tick).where(
            JobRun.tick >= ticks[0], JobRun.job.in_({name for name, _ in owed})
        )
    )
    claimed = {(name, tick) for name, tick in found}
    return [(name, tick) for name, tick in owed if (name, tick) not in claimed]


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
