"""Running a registered job with its run record (`job_runs`): the runner owns the transactions
(the scheduled task, the CLI, the API and the console call it).

A run is two transactions. The first claims it: it inserts the run's row (`running`). A scheduled
run names its tick, and (job, tick) is unique, so a second worker handed the same tick inserts
nothing and does nothing. The second transaction runs the job and marks the row `succeeded`, so
the job's changes and its record commit together. When the job raises, that transaction rolls back
and a fresh one marks the row `failed` with the error. Manual runs (CLI, API, console) have no
tick and always run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, db
from patron.core.actor import Actor
from patron.core.db import insert_or_skip
from patron.schedule.errors import JobFailed
from patron.schedule.models import JobRun
from patron.schedule.service import Sessions, Status, Trigger, get_job

log = logging.getLogger("patron.schedule")
RUNS = cast(Table, JobRun.__table__)
TEXT_LIMIT = 1000


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
    with db.transaction(sessions=sessions) as session:
        run_id = _claim(session, job.name, now, trigger, tick)
        if run_id is not None and actor is not None:
            after = {"now": now.isoformat(), "run_id": run_id}
            audit.record(session, actor, "schedule.run_job", "job", job.name, after=after)
    if run_id is None:
        log.info("job %s: tick %s already claimed, skipped", name, tick)
        return None
    try:
        with db.transaction(sessions=sessions) as session:
            summary = job.run(session, now)
            _finish(session, run_id, Status.succeeded, summary=summary)
            run = session.get_one(JobRun, run_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.exception("job %s (run %s) failed", name, run_id)
        with db.transaction(sessions=sessions) as session:
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
