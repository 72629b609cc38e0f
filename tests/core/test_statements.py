"""Prepared statements of the hot write path: run on the session's connection, they behave as
`Session.execute` would where it matters (pending changes flushed first, listeners told, driver
errors as SQLAlchemy's)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core import clock, statements
from patron.core.events import OUTBOX, OutboxEvent
from patron.core.idempotency import RECORDS
from patron.core.statements import Prepared
from patron.stores.models import Store
from tests.conftest import QueryCounter
from tests.factories import make_store

COLUMNS = ("actor_type", "actor_id", "key", "scope", "request_hash", "status", "created_at")
RECORD = Prepared(
    lambda _: (
        insert(RECORDS)
        .values({c: bindparam(c, type_=RECORDS.c[c].type) for c in COLUMNS})
        .returning(RECORDS.c.id)
    )
)


def record(key: str) -> dict[str, Any]:
    return {
        "actor_type": "system",
        "actor_id": 0,
        "key": key,
        "scope": "test",
        "request_hash": "x",
        "status": 0,
        "created_at": clock.now(),
    }


def test_rows_come_back_and_listeners_see_the_statement(
    session: Session, count_queries: QueryCounter
) -> None:
    RECORD.rows(session, record("first"))  # the session's savepoint begins
    count_queries.count = 0
    [(record_id,)] = RECORD.rows(session, record("a"))
    assert count_queries.count == 1
    assert session.scalar(select(RECORDS.c.key).where(RECORDS.c.id == record_id)) == "a"


def test_a_driver_error_is_sqlalchemys(session: Session) -> None:
    RECORD.rows(session, record("twice"))
    with pytest.raises(IntegrityError):
        RECORD.rows(session, record("twice"))


def test_pending_changes_are_flushed_first(session: Session) -> None:
    """The store is only added to the session; the outbox row's insert sees it written."""
    store = Store(code="NEW", name="店", type="owned", city="沪", status="open")
    session.add(store)
    row = {
        "type": "t",
        "entity_id": "1",
        "payload": {"a": "值"},
        "occurred_at": clock.now(),
        "attempts": 0,
    }
    statements.insert_rows(session, OUTBOX, [row, row])
    assert session.scalar(select(Store.id).where(Store.code == "NEW")) is not None
    payloads = session.scalars(select(OutboxEvent.payload).where(OutboxEvent.type == "t")).all()
    assert payloads == [{"a": "值"}, {"a": "值"}]


def test_a_column_with_a_default_must_be_given(session: Session) -> None:
    make_store(session)
    with pytest.raises(ValueError, match="attempts"):
        statements.insert_rows(
            session,
            OUTBOX,
            [{"type": "t", "entity_id": "1", "payload": {}, "occurred_at": clock.now()}],
        )
