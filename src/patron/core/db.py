"""Engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import DateTime, Engine, MetaData, Table, UniqueConstraint, create_engine, event
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from patron.core import clock

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
def unique_or(session: Session, errors: Mapping[str, Exception]) -> Iterator[None]:
    """Run the block's inserts and flush them in a savepoint; a unique constraint named in
    `errors` that they break raises its error instead. A check-then-insert alone lets two
    concurrent requests both pass the check: the constraint decides, and the loser hears why."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        error = errors.get(violated_unique(exc) or "")
        if error is None:
            raise
        raise error from exc


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that BEGIN IMMEDIATE below is what starts it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front so two writers never deadlock upgrading a read lock;
        # read-only work asks for DEFERRED through the `patron_read_only` execution option.
        mode = "DEFERRED" if conn.get_execution_options().get("patron_read_only") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    # psycopg prepares a statement after a few runs; a generic plan made while a table was small
    # (a sequential scan) would then stick as it grows. Plan each run for its actual values.
    connect_args = {
        "options": "-c plan_cache_mode=force_custom_plan",
        **kwargs.pop("connect_args", {}),
    }
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


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
def transaction(read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. Jobs and the CLI use this."""
    with session_factory()() as session:
        if read_only:
            session.connection(execution_options={"patron_read_only": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
