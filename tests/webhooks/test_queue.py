"""Deliveries and retries reach the task queue (Huey on SQLite here, as `patron serve` has it):
TASK_SIZE deliveries to a task, and the retries due within the same second in one task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from huey import Huey

from patron.core import clock, tasks
from patron.core.settings import Settings
from patron.core.tasks import huey
from patron.webhooks import tasks as webhook_tasks
from patron.webhooks.tasks import enqueue as real_enqueue


@pytest.fixture
def queue(settings: Settings) -> Iterator[Huey]:
    kind, options = huey.storage_class, huey.storage_kwargs
    tasks.configure(settings)
    try:
        yield huey
    finally:
        huey.storage_class, huey.storage_kwargs = kind, options
        huey.immediate = True  # back to immediate mode and its memory storage


def test_deliveries_are_queued_fifty_to_a_task(queue: Huey) -> None:
    real_enqueue(list(range(1, 121)))
    assert queue.pending_count() == 3
    sizes = [len(task.args[0]) for task in queue.pending()]
    assert sizes == [50, 50, 20]


def test_retries_due_in_the_same_second_go_together(queue: Huey) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    clock.set_now(now)
    webhook_tasks.schedule(
        [
            (1, now + timedelta(seconds=10)),
            (2, now + timedelta(seconds=10, milliseconds=500)),
            (3, now + timedelta(minutes=1)),
        ]
    )
    # Queued with their eta; the consumer holds each until then.
    queued = sorted(queue.pending(), key=lambda task: task.eta)
    assert [task.args[0] for task in queued] == [[1, 2], [3]]
    assert all(task.eta is not None for task in queued)


def test_in_immediate_mode_retries_wait_for_the_sweep() -> None:
    assert huey.immediate
    webhook_tasks.schedule([(1, clock.now() + timedelta(seconds=5))])
    assert huey.pending_count() == huey.scheduled_count() == 0
