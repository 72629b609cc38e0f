"""Work too big for one transaction (an import of a million rows), done in batches that each
commit on their own, so that what a batch locks (a member's points account, an order number) is
held for that batch only and a till waits one batch at most. Each batch gets a new session from
the session factory, never the request's; a batch that loses a race to another transaction (a
unique key another import inserted first, a deadlock, SQLite's write lock taken too long) is
rolled back and run again, and sees the winner's rows."""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import count
from queue import Full, Queue
from typing import Any, TypeVar

from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from patron.core.db import READ_ONLY, DatabaseBusy, violated_unique

T = TypeVar("T")
# Where a lookup runs: a short read-only transaction per call (`Batches.read`).
Lookups = Callable[[], AbstractContextManager[Session]]
# A batch runs at most this many times before its loss is the import's failure.
ATTEMPTS = 6
# PostgreSQL's errors that say another transaction got there first, not that the batch is
# wrong; COPY (core.bulk) raises them unwrapped.
LOST_RACE = (pg_errors.UniqueViolation, pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


@contextmanager
def committed(sessions: Callable[[], Session]) -> Iterator[Session]:
    """A transaction of its own, committed when the block ends without an error."""
    with sessions() as session:
        yield session
        session.commit()


@contextmanager
def reading(sessions: Callable[[], Session]) -> Iterator[Session]:
    """A short read-only transaction of its own (on SQLite, one that takes no write lock)."""
    with sessions() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


class Stopped(Exception):
    """The process is shutting down: the work stopped between two batches."""


class Batches:
    """Transactions for batched work: `write` runs one batch in its own, `read` opens a short
    read-only one (a lookup). `progress(session, rows)` is written in each batch's transaction,
    so it says exactly which rows are in. Once `stop` is set, the next batch raises Stopped."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        size: int,
        progress: Callable[[Session, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.sessions, self.size = sessions, size
        self._progress, self._stop = progress, stop

    def read(self) -> AbstractContextManager[Session]:
        return reading(self.sessions)

    def write(self, work: Callable[[Session], T], rows_done: int) -> T:
        """`work(session)` committed with the progress so far, or rolled back and retried
        when it lost a race; its result once committed."""
        for attempt in count(1):
            if self._stop is not None and self._stop.is_set():
                raise Stopped()
            with self.sessions() as session:
                try:
                    result = work(session)
                    if self._progress is not None:
                        self._progress(session, rows_done)
                    session.commit()
                    return result
                except Exception as exc:
                    session.rollback()
                    if attempt == ATTEMPTS or not lost_race(exc):
                        raise
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - jitter, not a secret
        raise AssertionError("count() never ends")


def lost_race(exc: Exception) -> bool:
    """Whether `exc` says a concurrent transaction won: a unique key it inserted first, a
    deadlock or serialization failure, SQLite's write lock held past the wait."""
    if isinstance(exc, DatabaseBusy):
        return True
    if isinstance(exc, IntegrityError):
        return violated_unique(exc) is not None
    return isinstance(exc.orig if isinstance(exc, DBAPIError) else exc, LOST_RACE)


@contextmanager
def ahead(items: Iterable[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """`items`, made on a thread of their own up to `depth` ahead of the block that takes them:
    on two cores, the next batch is read and checked while the database writes this one (the
    thread holds the interpreter only while it computes). An error making them is raised where
    they are taken; the thread stops when the block ends."""
    queue: Queue[tuple[bool, Any]] = Queue(depth)
    done = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(queue, (True, item), done):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            _put(queue, (False, exc), done)
            return
        _put(queue, (False, None), done)

    def consume() -> Iterator[T]:
        while True:
            made, value = queue.get()
            if made:
                yield value
            elif value is None:
                return
            else:
                raise value

    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(produce,), name="patron-ahead", daemon=True
    )
    thread.start()
    try:
        yield consume()
    finally:
        done.set()
        thread.join()


def _put(queue: Queue[tuple[bool, Any]], entry: tuple[bool, Any], done: threading.Event) -> bool:
    """`entry` queued, unless the consumer is gone first."""
    while not done.is_set():
        try:
            queue.put(entry, timeout=0.1)
        except Full:
            continue
        return True
    return False
