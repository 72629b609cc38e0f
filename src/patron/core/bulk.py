"""Bulk writes for imports: many rows into one table at the database's speed, in the session's
transaction. PostgreSQL takes them through COPY; SQLite through the driver's executemany. The
column types still apply (encryption, UTC times, JSON): their bind processors run here, once per
value, without SQLAlchemy's per-row statement work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

Processor = Callable[[Any], Any] | None


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`; no ids come back."""
    if not rows:
        return
    session.flush()  # ORM changes first, as a session.execute() would see them
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    processors: list[Processor] = [
        table.c[name].type._cached_bind_processor(dialect)  # noqa: SLF001 - SQLAlchemy's cache
        for name in names
    ]
    values = (_processed(row, names, processors) for row in rows)
    driver = connection.connection.driver_connection
    column_list = ", ".join(f'"{name}"' for name in names)
    if dialect.name == "postgresql":
        sql = f'COPY "{table.name}" ({column_list}) FROM STDIN'
        with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in values:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in names)
    driver.executemany(  # type: ignore[union-attr]
        f'INSERT INTO "{table.name}" ({column_list}) VALUES ({marks})', values
    )


def _processed(
    row: dict[str, Any], names: list[str], processors: list[Processor]
) -> tuple[Any, ...]:
    return tuple(
        row[name] if process is None else process(row[name])
        for name, process in zip(names, processors, strict=True)
    )
