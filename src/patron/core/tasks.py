"""The task queue: Huey. Its storage is SQLite beside the database file for the embedded default
and Redis when `PATRON_REDIS_URL` is set. Until `configure` runs (the server, `patron worker`),
the queue is in immediate mode: a task runs at once in the process that enqueued it, which is
what the CLI and the tests get.

Work a transaction causes is queued with `after_commit`: it reaches the queue only once the
transaction has committed, and never if it rolls back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from huey import Huey
from huey.storage import RedisStorage, SqliteStorage
from sqlalchemy import event
from sqlalchemy.orm import Session

from patron.core.settings import Settings

QUEUE_NAME = "patron"
huey = Huey(QUEUE_NAME, immediate=True, results=False, utc=True)
_AFTER_COMMIT = "patron_after_commit"


def configure(settings: Settings) -> Huey:
    """Point the queue at its real storage: Redis when configured, else SQLite in data_dir."""
    if settings.redis_url:
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": settings.redis_url}
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": str(settings.data_dir / "tasks.db")}
    huey.immediate = False
    huey.storage = huey.create_storage()
    return huey


def uses_redis() -> bool:
    return not huey.immediate and isinstance(huey.storage, RedisStorage)


def after_commit(session: Session, work: Callable[[], Any]) -> None:
    """Run `work` (typically enqueueing a task) once the session's transaction commits; dropped
    on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(work)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    # SQLAlchemy fires after_commit for a savepoint's release too (`begin_nested`, as
    # `unique_or` does): the work waits for the outermost transaction's commit.
    if session.in_nested_transaction():
        return
    for work in session.info.pop(_AFTER_COMMIT, []):
        work()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_AFTER_COMMIT, None)
