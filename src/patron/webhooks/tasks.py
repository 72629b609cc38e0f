"""The webhooks' side of the task queue: a task delivers a batch of due deliveries and
schedules their retries; deliveries are queued TASK_SIZE to a task. Kept apart from the jobs
(`webhooks.jobs`) so that importing it (the service does) registers no scheduled job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from patron.core import clock, db
from patron.core.settings import get_settings
from patron.core.tasks import after_commit, huey
from patron.webhooks import delivery, urls

TASK_SIZE = 50  # deliveries per task


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
        after_commit(session, lambda: schedule(retries))


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
