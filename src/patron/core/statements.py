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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Each parameter's name and bind processor, in the order a positional driver takes them.
    parameters: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    defaults: dict[str, Any]  # the values the statement carries itself (literals)
    positional: bool
    options: dict[str, Any]  # for the driver's execute()


class Prepared:
    """A statement built by `build` (given the session, for the dialect's own constructs) once
    per dialect, and run with `rows` or `run`."""

    def __init__(self, build: Callable[[Session], ClauseElement]) -> None:
        self._build = build
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[Row]:
        """Run the statement once; the rows it returns (RETURNING), if any."""
        connection, compiled = self._connection(session)
        return _execute(connection, compiled, [_arguments(compiled, params)])

    def run(self, session: Session, params: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement for each parameter set, in one driver call."""
        connection, compiled = self._connection(session)
        _execute(connection, compiled, [_arguments(compiled, p) for p in params])

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
        compiled = cast(SQLCompiler, self._build(session).compile(dialect=dialect))
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = compiled.positiontup if compiled.positional else list(binds)
        assert names is not None
        required = {name for name in names if binds[name].required}
        return _Compiled(
            sql=compiled.string,
            parameters=tuple((name, _processor(binds[name].type, dialect)) for name in names),
            defaults={k: v for k, v in compiled.params.items() if k not in required},
            positional=compiled.positional,
            options={"prepare": True} if dialect.driver == "psycopg" else {},
        )


def _processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _arguments(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    values = {**compiled.defaults, **params} if compiled.defaults else params
    if compiled.positional:
        return tuple(
            values[name] if process is None else process(values[name])
            for name, process in compiled.parameters
        )
    return {
        name: values[name] if process is None else process(values[name])
        for name, process in compiled.parameters
    }


def _execute(connection: Connection, compiled: _Compiled, arguments: list[Any]) -> list[Row]:
    dbapi_connection = connection.connection.driver_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    many = len(arguments) > 1
    sql, parameters = compiled.sql, arguments if many else arguments[0]
    for listener in connection.dispatch.before_cursor_execute:
        sql, parameters = listener(connection, cursor, sql, parameters, None, many)
    try:
        if many:
            cursor.executemany(sql, parameters)
            found: list[Row] = []
        else:
            cursor.execute(sql, parameters, **compiled.options)
            found = cursor.fetchall() if cursor.description else []
    except Exception as error:
        raise _wrapped(connection, cursor, sql, parameters, error) from error
    finally:
        cursor.close()
    for after in connection.dispatch.after_cursor_execute:
        after(connection, cursor, sql, parameters, None, many)
    return found


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
    statement.run(session, rows)


FEW_ROWS = 5


def _insert_of(table: Table, columns: tuple[str, ...]) -> ClauseElement:
    omitted = [c.name for c in table.columns if c.default is not None and c.name not in columns]
    if omitted:
        raise ValueError(f"insert into {table.name} must give {', '.join(omitted)}")
    return insert(table).values({c: bindparam(c, type_=table.c[c].type) for c in columns})
