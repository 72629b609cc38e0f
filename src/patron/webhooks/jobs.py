"""The webhooks' background work: the relay (a loop, and a minute job as a safety net), the
delivery task on the queue, and the sweep that queues deliveries whose task was lost."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.core import clock, db, tasks
from patron.core.settings import get_settings
from patron.core.tasks import huey
from patron.schedule.registry import EVERY_MINUTE, Job, daily, register, register_loop
from patron.webhooks import delivery, relay, urls

log = logging.getLogger("patron.webhooks")
TASK_SIZE = 50  # deliveries per task
IDLE_SECONDS = 0.5  # the relay's pause when the outbox is drained
JOB_ROUNDS = 20  # relay rounds the minute job takes at most in its one transaction


@huey.task()
def deliver(ids: list[int]) -> None:
    """Send the due deliveries among `ids` and record the attempts; schedule their retries."""
    settings = get_settings()
    with db.transaction() as session:
        taken = delivery.take(session, ids, clock.now(), settings.webhook_timeout)
    if not taken:
        return
    outcomes = delivery.send(taken, settings.webhook_timeout, urls.private_allowed(settings))
    with db.transaction() as session:
        retries = delivery.record(session, outcomes, clock.now())
        tasks.after_commit(session, lambda: schedule(retries))


def enqueue(ids: Sequence[int]) -> None:
    """Queue `ids` for delivery now, TASK_SIZE to a task."""
    for start in range(0, len(ids), TASK_SIZE):
        deliver(list(ids[start : start + TASK_SIZE]))


def schedule(retries: Sequence[tuple[int, datetime]]) -> None:
    """Queue each retry for its time (those due within the same second together)."""
    if huey.immediate:
        return  # no consumer to wait for them: the sweep queues them once due
    now = clock.now()
    by_second: dict[int, list[int]] = {}
    for delivery_id, at in retries:
        by_second.setdefault(int(at.timestamp()), []).append(delivery_id)
    for second, ids in sorted(by_second.items()):
        delay = max(0.0, second + 1 - now.timestamp())
        for start in range(0, len(ids), TASK_SIZE):
            deliver.schedule(args=(ids[start : start + TASK_SIZE],), delay=delay)


def relay_job(session: Session, now: datetime) -> str:
    """Up to JOB_ROUNDS rounds in the job's transaction (the loop takes any more)."""
    taken = 0
    for _ in range(JOB_ROUNDS):
        one = relay.relay_round(session, now)
        taken += one.taken
        ids = one.delivery_ids
        tasks.after_commit(session, lambda ids=ids: enqueue(ids))  # type: ignore[misc]
        if not one.full:
            break
    return f"{taken} events dispatched"


def relay_loop() -> float:
    """One round in its own transaction; no pause when a full batch was taken. An idle outbox
    costs a read (on SQLite the write lock is not taken)."""
    with db.transaction(read_only=True) as session:
        if not relay.waiting(session):
            return IDLE_SECONDS
    with db.transaction() as session:
        one = relay.relay_round(session, clock.now())
        tasks.after_commit(session, lambda: enqueue(one.delivery_ids))
    return 0.0 if one.full else IDLE_SECONDS


def sweep_job(session: Session, now: datetime) -> str:
    ids = delivery.due(session, now)
    tasks.after_commit(session, lambda: enqueue(ids))
    return f"{len(ids)} deliveries queued again"


def prune_job(session: Session, now: datetime) -> str:
    retention = timedelta(days=get_settings().outbox_retention_days)
    return f"{delivery.prune(session, now, retention)} deliveries pruned"


register_loop("webhooks.relay", relay_loop)
register(
    Job(
        "webhooks.relay",
        EVERY_MINUTE,
        relay_job,
        "Dispatch the outbox's events to webhook deliveries (the relay loop's safety net).",
    )
)
register(
    Job(
        "webhooks.sweep",
        EVERY_MINUTE,
        sweep_job,
        "Queue webhook deliveries whose attempt is past due (a lost task, a killed worker).",
    )
)
register(
    Job(
        "webhooks.prune",
        daily(4, 30),
        prune_job,
        "Delete finished webhook deliveries older than PATRON_OUTBOX_RETENTION_DAYS.",
    )
)
