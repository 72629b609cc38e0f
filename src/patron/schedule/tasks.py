"""The schedule on the task queue. A periodic Huey task, every minute, enqueues one
`run_scheduled_job(name, tick)` per job due at that minute's tick (and per tick of the last few
minutes that a late check would otherwise miss); any worker runs it, claiming the tick with its run
record, so a tick handed to two workers, or enqueued twice, runs once.

Only a consumer started with the schedule (`periodic=True`: `patron serve` without Redis,
`patron worker --schedule`) enqueues the ticks; every consumer runs the jobs."""

from __future__ import annotations

import logging
from datetime import datetime

from huey import crontab

from patron.core import clock, db
from patron.core.tasks import huey
from patron.schedule import runner, service
from patron.schedule.errors import JobFailed, JobNotFound

log = logging.getLogger("patron.schedule")


@huey.task(name="patron.schedule.run_scheduled_job")
def run_scheduled_job(name: str, tick: str) -> None:
    """Run job `name` for the tick (ISO 8601, UTC), unless a worker already claimed it."""
    moment = datetime.fromisoformat(tick)
    try:
        runner.run_job(name, moment, service.Trigger.schedule, moment)
    except JobFailed:
        pass  # recorded as failed and logged; the next tick runs it again
    except JobNotFound:
        log.warning("job %s, enqueued for %s, is no longer registered", name, tick)


def enqueue_due(
    now: datetime, sessions: service.Sessions | None = None
) -> list[tuple[str, datetime]]:
    """Enqueue a run of each (job, tick) the schedule owes at `now`; which."""
    with (sessions or db.session_factory())() as session:
        owed = service.due_runs(session, now)
    for name, tick in owed:
        run_scheduled_job(name, tick.isoformat())
    return owed


@huey.periodic_task(crontab(), name="patron.schedule.tick")
def schedule_tick() -> None:
    enqueue_due(clock.now())
