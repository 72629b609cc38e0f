"""What tiers cost the order path: nothing with no ladder, for an order that moves no tier the
tier row's upsert and the growth entry: one statement on PostgreSQL (the entry's INSERT in a
CTE of the upsert), two on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from patron.core import clock
from tests.factories import make_member, make_store
from tests.tiers.helpers import make_ladder, order

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture
def sent(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            seen.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)


def statements_of_an_order(session: Session, sent: list[str], member: Any, store: Any) -> int:
    order(session, store, member, 100_00, NOW)  # caches warm
    sent.clear()
    order(session, store, member, 100_00, NOW)
    return len(sent)


def test_tiers_cost_one_statement_on_an_order_two_on_sqlite_and_none_when_off(
    session: Session, sent: list[str]
) -> None:
    clock.set_now(NOW)
    store = make_store(session)
    member = make_member(session, store)
    off = statements_of_an_order(session, sent, member, store)
    make_ladder(session)
    on = statements_of_an_order(session, sent, member, store)
    postgres = session.get_bind().dialect.name == "postgresql"
    assert on - off == (1 if postgres else 2), sent
