"""Fixed statements of the hot write path (order intake), run at the driver's cost.

`Session.execute` spends about 0.1 ms of CPU on a statement before the driver sees it (its cache
key, an execution context, the result's set-up): most of what a small INSERT costs. A
`Prepared` statement is a Core statement compiled once per dialect and sent on the session's
own DBAPI connection, so in its transaction, on PostgreSQL as a server-side prepared statement.
As from `Session.execute`, pending ORM changes are flushed first, statement listeners
(`before_cursor_execute`, `after_cursor_execute`) see it, and a driver error arrives as
SQLAlchemy's `DBAPIError` (what the retry of lost lock races looks for). Rows come back as the
driver returns them, without result processing: for integer and text columns."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from psycopg import RawCursor
from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Compiled:
    sql: str  # as listeners see it
    query: str | bytes  # as the driver takes it
    # Each parameter's name and bind processor, in the driver's (positional) order.
    parameters: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    defaults: dict[str, Any]  # the values the statement carries itself (literals)
    cursor: Callable[[Any], Any]  # makes the cursor to run it on, given the DBAPI connection
    options: dict[str, Any]  # for the driver's execute()


class Prepared:
    """A statement built by `build` (given the session, for the dialect's own constructs) once
    per dialect, and run with `rows` or `run`."""

    def __init__(self, build: Callable[[Session], ClauseElement]) -> None:
        self._build = build
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[Row]:
        """Run the statement, which returns rows (RETURNING or a SELECT); its rows."""
        connection, compiled = self._connection(session)
        return _execute(connection, compiled, _arguments(compiled, params), fetch=True)

    def run(self, session: Session, params: Mapping[str, Any]) -> None:
        """Run the statement, which returns no rows."""
        connection, compiled = self._connection(session)
        _execute(connection, compiled, _arguments(compiled, params), fetch=False)

    def run_many(self, session: Session, params: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement, which returns no rows, for each parameter set in one call."""
        connection, compiled = self._connection(session)
        _execute(connection, compiled, [_arguments(compiled, p) for p in params], fetch=False)

    def _connection(self, session: Session) -> tuple[Connection, _Compiled]:
        if session.autoflush:
            session.flush()  # as Session.execute would: nothing when the session is clean
        connection = session.connection()
        compiled = self._compiled.get(connection.dialect.name)
        if compiled is None:
            compiled = self._compiled[connection.dialect.name] = self._compile(session)
        return connection, compiled

    def _compile(self, session: Session) -> _Compiled:
        dialect = session.get_bind().dialect
        psycopg = dialect.driver == "psycopg"
        if psycopg:
            # "$1" placeholders, which psycopg's raw cursor passes on as they are, instead of
            # parsing the query for "%(name)s" on every execution.
            dialect = copy.copy(dialect)
            dialect.paramstyle, dialect.positional = "numeric_dollar", True
        compiled = cast(SQLCompiler, self._build(session).compile(dialect=dialect))
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = compiled.positiontup
        assert names is not None, "a positional paramstyle"
        required = {name for name in names if binds[name].required}
        return _Compiled(
            sql=compiled.string,
            query=compiled.string.encode() if psycopg else compiled.string,
            parameters=tuple((name, _processor(binds[name].type, dialect)) for name in names),
            defaults={k: v for k, v in compiled.params.items() if k not in required},
            cursor=RawCursor if psycopg else _plain_cursor,
            options={"prepare": True} if psycopg else {},
        )


def _plain_cursor(dbapi_connection: Any) -> Any:
    return dbapi_connection.cursor()


def _processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _arguments(compiled: _Compiled, params: Mapping[str, Any]) -> tuple[Any, ...]:
    values = {**compiled.defaults, **params} if compiled.defaults else params
    return tuple(
        values[name] if process is None else process(values[name])
        for name, process in compiled.parameters
    )


def _execute(connection: Connection, compiled: _Compiled, arguments: Any, fetch: bool) -> Any:
    """Run the statement with one set of arguments (a tuple) or several (a list)."""
    pooled = connection.connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None:  # one per DBAPI connection, kept: making one costs more than a statement
        cursor = pooled.info[_CURSOR] = compiled.cursor(pooled.driver_connection)
    many = isinstance(arguments, list)
    sql, parameters = compiled.sql, arguments
    for listener in connection.dispatch.before_cursor_execute:
        sql, parameters = listener(connection, cursor, sql, parameters, None, many)
    query = compiled.query if sql is compiled.sql else sql
    try:
        if many:
            cursor.executemany(query, parameters)
        else:
            cursor.execute(query, parameters, **compiled.options)
        found = cursor.fetchall() if fetch else None
    except Exception as error:
        raise _wrapped(connection, cursor, sql, parameters, error) from error
    for after in connection.dispatch.after_cursor_execute:
        after(connection, cursor, sql, parameters, None, many)
    return found


_CURSOR = "patron.statements.cursor"


def _wrapped(
    connection: Connection, cursor: Any, sql: str, parameters: Any, error: Exception
) -> Exception:
    """The driver's error as SQLAlchemy raises it, the connection invalidated when it is gone."""
    dialect = connection.dialect
    if not isinstance(error, dialect.loaded_dbapi.Error):
        return error
    gone = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if gone:
        connection.invalidate(error)
    return DBAPIError.instance(
        sql,
        parameters,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=gone,
        dialect=dialect,
    )


_inserts: dict[tuple[str, tuple[str, ...]], Prepared] = {}
FEW_ROWS = 5


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT rows that name the same columns: through a `Prepared` statement for a row or a
    few, through `Session.execute` (which batches many rows per statement) for more. Columns
    with a client-side default must be given (this path does not fill them in)."""
    if not rows:
        return
    if len(rows) > FEW_ROWS:
        session.execute(insert(table), list(rows))
        return
    columns = tuple(rows[0])
    statement = _inserts.get((table.name, columns))
    if statement is None:
        statement = _inserts[(table.name, columns)] = Prepared(lambda _: _insert_of(table, columns))
    if len(rows) == 1:
        statement.run(session, rows[0])
    else:
        statement.run_many(session, rows)


def _insert_of(table: Table, columns: tuple[str, ...]) -> ClauseElement:
    omitted = [c.name for c in table.columns if c.default is not None and c.name not in columns]
    if omitted:
        raise ValueError(f"insert into {table.name} must give {', '.join(omitted)}")
    return insert(table).values({c: bindparam(c, type_=table.c[c].type) for c in columns})
