"""Engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from psycopg.errors import DeadlockDetected, SerializationFailure, UniqueViolation
from sqlalchemy import DateTime, Engine, MetaData, Table, UniqueConstraint, create_engine, event
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from patron.core import clock
from patron.core.errors import ServiceUnavailable

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stored in UTC, returned timezone-aware on every database (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Patron stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_or_skip(session: Session, table: Table) -> PostgresInsert | SqliteInsert:
    """INSERT for `table` that can skip rows already there (`.on_conflict_do_nothing(...)`),
    on PostgreSQL and SQLite alike."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


SQLITE_UNIQUE_FAILED = "UNIQUE constraint failed: "


def violated_unique(exc: IntegrityError) -> str | None:
    """The name of the unique constraint `exc` broke, or None when it broke something else.
    PostgreSQL names it; SQLite names the columns ("table.a, table.b"), which the table's unique
    constraints map back to the name the naming convention gave them."""
    if isinstance(exc.orig, UniqueViolation):
        return exc.orig.diag.constraint_name
    message = str(exc.orig)
    if not message.startswith(SQLITE_UNIQUE_FAILED):
        return None
    qualified = message.removeprefix(SQLITE_UNIQUE_FAILED).split(", ")  # table.column, ...
    table = Base.metadata.tables.get(qualified[0].partition(".")[0])
    columns = {name.partition(".")[2] for name in qualified}
    for constraint in table.constraints if table is not None else ():
        if isinstance(constraint, UniqueConstraint) and set(constraint.columns.keys()) == columns:
            return str(constraint.name)
    return None


@contextmanager
def unique_or(
    session: Session, errors: Mapping[str, Exception | Callable[[], Exception]]
) -> Iterator[None]:
    """Run the block's inserts and flush them in a savepoint; a unique constraint named in
    `errors` that they break raises its error instead (or the error a function there makes,
    after the savepoint is rolled back: it may look up who holds the value). A check-then-insert
    alone lets two concurrent requests both pass the check: the constraint decides, and the
    loser hears why."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        error = errors.get(violated_unique(exc) or "")
        if error is None:
            raise
        raise (error if isinstance(error, Exception) else error()) from exc


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


# How long a writer waits for SQLite's write lock (its turn in the queue, then the busy handler
# for writers in other processes) before giving up with DatabaseBusy.
WRITE_WAIT_SECONDS = 30.0
READ_ONLY = "patron_read_only"
# Beside the database file: the processes writing to it take turns through a lock on this file.
WRITER_LOCK_SUFFIX = "-writer.lock"


class DatabaseBusy(ServiceUnavailable):
    """The database could not serve the transaction in time: SQLite's one writer slot stayed
    taken longer than the engine's write wait, or the transaction lost a lock race (`transient`)
    on every attempt the request makes."""


# SQLite's answers when a statement cannot take the lock it needs (a deferred transaction that
# comes to write while another writes; the busy timeout does not apply to that upgrade).
SQLITE_LOCKED = ("database is locked", "database table is locked")


def transient(error: BaseException) -> TypeGuard[DBAPIError]:
    """A failure that running the whole transaction again can cure: PostgreSQL chose it as a
    deadlock's victim or refused it for a serialization conflict, or SQLite could not take its
    lock. The database rolled the work back; nothing of it was kept."""
    if not isinstance(error, DBAPIError):
        return False
    if isinstance(error.orig, DeadlockDetected | SerializationFailure):
        return True
    return isinstance(error.orig, sqlite3.OperationalError) and str(error.orig) in SQLITE_LOCKED


class WriterQueue:
    """SQLite's write lock, taken first come, first served: by the threads of one process in
    one queue, then by the processes through an exclusive lock on a file beside the database.

    SQLite's own busy handler retries with a growing back-off, so a writer that arrives while
    the lock is taken can lose to many later ones (seconds of tail latency). Here the waiters of
    a process line up and the oldest takes its turn at commit or rollback; the one at the head
    waits for the other processes' writers in the kernel (`flock`), which wakes it as soon as
    the file is unlocked, while the process it waits for must first hand its own turn on."""

    def __init__(self, lock_path: str | None = None) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False
        self._lock_path = lock_path
        self._lock_file: _LockFile | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._take_turn(timeout):
            return False
        if self._lock_path is None:
            return True
        self._lock_file = _LockFile.take(self._lock_path, deadline - time.monotonic())
        if self._lock_file is None:
            self._pass_turn()
            return False
        return True

    def release(self) -> None:
        lock_file, self._lock_file = self._lock_file, None
        if lock_file is not None:
            lock_file.release()
        self._pass_turn()

    def _take_turn(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=max(timeout, 0)):
            return True
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed over between the timeout and taking the mutex

    def _pass_turn(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # the turn passes on, still held
            else:
                self._held = False


class _LockFile:
    """One exclusive `flock` of the writers' lock file, on a descriptor of its own: a wait given
    up on leaves its descriptor to be closed by the thread still waiting for it, without
    touching the lock a later writer of the process takes on another descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def take(cls, path: str, timeout: float) -> _LockFile | None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return cls(fd)
        except BlockingIOError:
            pass
        except BaseException:
            os.close(fd)
            raise
        return cls(fd) if _wait_for_lock(fd, timeout) else None

    def release(self) -> None:
        os.close(self._fd)  # closing the only descriptor of the open file unlocks it


def _wait_for_lock(fd: int, timeout: float) -> bool:
    """Wait in the kernel, in a thread of its own, since `flock` itself takes no timeout; a wait
    given up on closes the descriptor once the lock comes, releasing it at once."""
    mutex = threading.Lock()
    locked = threading.Event()
    abandoned = False

    def wait() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with mutex:
            if abandoned:
                os.close(fd)
            else:
                locked.set()

    threading.Thread(target=wait, name="patron-sqlite-writer-lock", daemon=True).start()
    if locked.wait(max(timeout, 0)):
        return True
    with mutex:
        if locked.is_set():
            return True
        abandoned = True
    return False


_writer_queues: dict[str, WriterQueue] = {}
_writer_queues_mutex = threading.Lock()


def writer_queue(database: str) -> WriterQueue:
    """The one queue of a database file in this process, whichever engine writes to it."""
    path = os.path.realpath(database)
    with _writer_queues_mutex:
        return _writer_queues.setdefault(path, WriterQueue(path + WRITER_LOCK_SUFFIX))


class QueuedConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its writer queue back when the transaction ends, by
    commit, rollback (the pool's reset included) or close."""

    holding: WriterQueue | None = None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_queue()

    def leave_queue(self) -> None:
        queue, self.holding = self.holding, None
        if queue is not None:
            queue.release()


def _configure_sqlite(engine: Engine, queue: WriterQueue | None, write_wait: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that BEGIN IMMEDIATE below is what starts it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(write_wait * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front so two writers never deadlock upgrading a read lock;
        # read-only work asks for DEFERRED through the `patron_read_only` execution option.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        dbapi_connection: QueuedConnection = conn.connection.dbapi_connection
        if queue is not None and dbapi_connection.holding is None:
            if not queue.acquire(write_wait):
                raise DatabaseBusy(f"the database stayed busy for {write_wait:g} s; retry")
            dbapi_connection.holding = queue
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            dbapi_connection.leave_queue()
            if "database is locked" in str(exc.orig):  # another process kept it past the wait
                raise DatabaseBusy(f"the database stayed busy for {write_wait:g} s; retry") from exc
            raise


def make_engine(url: str, *, write_wait: float = WRITE_WAIT_SECONDS, **kwargs: Any) -> Engine:
    """An engine for `url`. On SQLite, `write_wait` bounds how long a writer waits for the write
    lock before DatabaseBusy (503 over HTTP)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_disk = bool(parsed.database) and parsed.database != ":memory:"
        if on_disk:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": write_wait,
                "factory": QueuedConnection,
            },
            **kwargs,
        )
        queue = writer_queue(str(parsed.database)) if on_disk else None
        _configure_sqlite(engine, queue, write_wait)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    if parsed.get_backend_name() == "postgresql":
        # JIT compiles queries the planner costs high (a segment rule's hashed sub-plans, a
        # report's scan) for up to a second, more than most of them take to run (demo preview
        # p99 1,962 ms with JIT, 451 ms without).
        connect_args = {"options": "-c jit=off", **kwargs.pop("connect_args", {})}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    return create_engine(url, pool_pre_ping=True, **kwargs)


_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def configure(engine: Engine) -> None:
    global _engine, _session_factory
    _engine = engine
    _session_factory = sessionmaker(engine, expire_on_commit=False)


def get_engine() -> Engine:
    if _engine is None:
        from patron.core.settings import get_settings

        configure(make_engine(get_settings().database_url))
    assert _engine is not None
    return _engine


def session_factory() -> sessionmaker[Session]:
    get_engine()
    assert _session_factory is not None
    return _session_factory


@contextmanager
def transaction(
    read_only: bool = False, *, sessions: Callable[[], Session] | None = None
) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. Jobs and the CLI use this;
    `sessions` makes the session (the app's or a test's), else the configured factory."""
    with (sessions or session_factory())() as session:
        if read_only:
            session.connection(execution_options={READ_ONLY: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
