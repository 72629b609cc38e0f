"""The webhooks' background work: the relay (a loop, and a minute job as a safety net) and the
sweep that queues deliveries whose task was lost (the delivery task: `webhooks.tasks`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.core import clock, db
from patron.core.settings import get_settings
from patron.core.tasks import after_commit
from patron.schedule.registry import EVERY_MINUTE, Job, daily, register, register_loop
from patron.webhooks import delivery, relay
from patron.webhooks import tasks as webhook_tasks

IDLE_SECONDS = 0.5  # the relay's pause when the outbox is drained
JOB_ROUNDS = 20  # relay rounds the minute job takes at most in its one transaction


def relay_job(session: Session, now: datetime) -> str:
    """Up to JOB_ROUNDS rounds in the job's transaction (the loop takes any more)."""
    taken = 0
    for _ in range(JOB_ROUNDS):
        one = relay.relay_round(session, now)
        taken += one.taken
        ids = one.delivery_ids
        after_commit(session, lambda ids=ids: webhook_tasks.enqueue(ids))  # type: ignore[misc]
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
        after_commit(session, lambda: webhook_tasks.enqueue(one.delivery_ids))
    return 0.0 if one.full else IDLE_SECONDS


def sweep_job(session: Session, now: datetime) -> str:
    ids = delivery.due(session, now)
    after_commit(session, lambda: webhook_tasks.enqueue(ids))
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
