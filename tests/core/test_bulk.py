"""`bulk.FreshStatistics`: PostgreSQL's statistics of the tables an import grows are refreshed
each time the import doubles what it added, so that its lookups are planned for the table's size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Connection, Table, event
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.members.models import Member, MemberIdentity


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(connection, "before_cursor_execute", record)
    yield seen
    event.remove(connection, "before_cursor_execute", record)


def test_the_tables_are_analysed_each_time_the_rows_added_double(
    session: Session, statements: list[str]
) -> None:
    tables = cast(Table, Member.__table__), cast(Table, MemberIdentity.__table__)
    statistics = bulk.FreshStatistics(*tables)
    analysed = []
    for rows in [1000, 3999, 1, 4999, 1, 9000]:
        statistics.grew(rows)
        statistics.before_lookups(session)
        analysed.append([s for s in statements if s.startswith("ANALYZE")])
        statements.clear()
    if session.get_bind().dialect.name != "postgresql":
        assert analysed == [[]] * 6
        return
    both = ['ANALYZE "members"', 'ANALYZE "member_identities"']
    # 1,000 and 4,999 added: not yet; 5,000: analysed; 9,999: not; 10,000 (double): analysed
    assert analysed == [[], [], both, [], both, []]
