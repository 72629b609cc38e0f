"""The queue's side of messages: deliver one message in its own transaction, after the
transaction that wrote it has committed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy.orm import Session

from patron.core import clock, db
from patron.core.tasks import after_commit, huey

__all__ = ["after_commit", "deliver_message", "deliver_messages"]

# Where a delivery gets its transaction; tests point it at their connection.
transaction: Callable[[], AbstractContextManager[Session]] = db.transaction


@huey.task(retries=0)
def deliver_message(message_id: int) -> None:
    """Claim the message (a short transaction), call the provider outside any transaction, then
    record the outcome (another short one): a slow provider holds no database lock. A worker
    killed mid-send leaves a claimed message that the minute job hands out again once its lease
    has run out (at least once; providers' ids let the log show a repeat)."""
    _deliver(message_id)


@huey.task(retries=0)
def deliver_messages(message_ids: list[int], handed: datetime | None = None) -> None:
    """`deliver_message` for each of a batch's messages (a campaign's, or the due ones the
    minute job handed out, marked `handed`: see `service.hand_out`), one task for them all:
    one enqueue per batch instead of one per message."""
    for message_id in message_ids:
        _deliver(message_id, handed)


def _deliver(message_id: int, handed: datetime | None = None) -> None:
    from patron.messages import service

    with transaction() as session:
        claimed = service.claim(session, message_id, clock.now(), handed)
    if claimed is None:
        return
    outcome = service.call_provider(claimed)
    with transaction() as session:
        service.record(session, message_id, outcome, clock.now())
