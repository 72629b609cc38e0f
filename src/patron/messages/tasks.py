"""The queue's side of messages: deliver one message in its own transaction, after the
transaction that wrote it has committed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from patron.core import db
from patron.core.tasks import after_commit, huey

__all__ = ["after_commit", "deliver_message"]

# Where a delivery gets its transaction; tests point it at their connection.
transaction: Callable[[], AbstractContextManager[Session]] = db.transaction


@huey.task(retries=0)
def deliver_message(message_id: int) -> None:
    from patron.messages import service

    with transaction() as session:
        service.deliver(session, message_id)
