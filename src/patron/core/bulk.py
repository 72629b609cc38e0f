"""Bulk writes for imports: many rows into one table at the database's speed, in the session's
transaction. PostgreSQL takes them through COPY; SQLite through the driver's executemany. The
column types still apply (encryption, UTC times, JSON): their bind processors run here, once per
value, without SQLAlchemy's per-row statement work."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

Processor = Callable[[Any], Any] | None


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`; no ids come back."""
    if not rows:
        return
    names = tuple(rows[0])
    copy_rows(session, table, names, [tuple(row[name] for name in names) for row in rows])


def copy_rows(
    session: Session, table: Table, names: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """INSERT `rows`, tuples of the `names` columns' values, into `table`: as `insert_rows`,
    without a dict per row."""
    session.flush()  # ORM changes first, as a session.execute() would see them
    connection = session.connection()
    dialect = connection.dialect
    processors = [
        (i, process)
        for i, name in enumerate(names)
        if (process := table.c[name].type._cached_bind_processor(dialect))  # noqa: SLF001
    ]
    values = (_processed(row, processors) for row in rows) if processors else rows
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
    row: tuple[Any, ...], processors: Sequence[tuple[int, Callable[[Any], Any]]]
) -> tuple[Any, ...] | list[Any]:
    values = list(row)
    for i, process in processors:
        values[i] = process(values[i])
    return values


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` ids for rows about to be inserted into `table` (its integer primary key `id`),
    so that no insert has to return them. PostgreSQL takes them from the column's sequence;
    SQLite, whose write transaction holds the database's one write lock, after the largest."""
    if session.get_bind().dialect.name == "postgresql":
        listed = session.scalar(RESERVE, {"table": table.name, "n": count})
        return [int(i) for i in listed.split(",")] if listed else []
    largest = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(largest + 1, largest + 1 + count))


# The sequence is looked up once (a materialized CTE): looked up for each id, it cost about 5 µs
# an id, ten times nextval itself. The ids come back as one text: a row each cost 3.5 µs of
# client CPU to fetch, more than drawing them.
RESERVE = text(
    "WITH s AS MATERIALIZED (SELECT CAST(pg_get_serial_sequence(:table, 'id') AS regclass) AS seq),"
    " ids AS MATERIALIZED (SELECT nextval(s.seq) AS id FROM s, generate_series(1, :n))"
    " SELECT string_agg(CAST(id AS text), ',' ORDER BY id) FROM ids"
)


def any_of(
    session: Session, column: InstrumentedAttribute[Any], values: list[Any]
) -> ColumnElement[bool]:
    """`column` is one of `values`: one array parameter on PostgreSQL (`= ANY`), so that the
    statement is the same for any number of values; an IN list on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


class FreshStatistics:
    """Keeps PostgreSQL's statistics of the tables an import multiplies up to date.

    A batch's lookups (a thousand keys at a time) are planned from the statistics, which during
    an import that multiplies a table still describe it as small: the lookups become sequential
    scans, and the import slows down batch by batch (318 µs of server CPU a member at 100,000
    members instead of 81). The tables are analysed again each time the rows this import added
    double, so a million rows cost about ten ANALYZEs."""

    FIRST = 5000

    def __init__(self, *tables: Table) -> None:
        self.tables = tables
        self.added = 0
        self.next_at = self.FIRST

    def before_lookups(self, session: Session) -> None:
        if self.added < self.next_at or session.get_bind().dialect.name != "postgresql":
            return
        for table in self.tables:
            session.execute(text(f'ANALYZE "{table.name}"'))
        self.next_at = 2 * self.added

    def grew(self, rows: int) -> None:
        self.added += rows
