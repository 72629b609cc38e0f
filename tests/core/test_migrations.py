from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from patron.core import db, migrate
from patron.models import metadata


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    from alembic import command

    engine = db.make_engine(f"sqlite:///{tmp_path / 'roundtrip.db'}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert "stores" in inspect(engine).get_table_names()


def test_points_entry_facts_are_backfilled_from_their_text(tmp_path: Path) -> None:
    path = tmp_path / "facts.db"
    engine = db.make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "0005")
    notes = {
        1: "adjustment 7: 投诉补偿: 漏积分",
        2: "merged into member 12",
        3: "merged from member 11",
        4: "paid debt 300",
        5: "order refunded",
    }
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.executemany(
            "INSERT INTO members (id, status, gender, channel, registered_at, created_at,"
            " updated_at) VALUES (?, 'active', 'unknown', 'pos', ?, ?, ?)",
            [(member_id, *["2026-01-01 00:00:00"] * 3) for member_id in (1, 11, 12)],
        )
        raw.executemany(
            "INSERT INTO points_entries (id, member_id, kind, points, operator, reason, lapsed,"
            " created_at) VALUES (?, 1, 'adjust', 1, 'system', ?, 0, '2026-01-01 00:00:00')",
            notes.items(),
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, reason, merge_partner_id, debt_paid FROM points_entries ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        (1, "投诉补偿: 漏积分", None, 0),
        (2, "merged into member 12", 12, 0),
        (3, "merged from member 11", 11, 0),
        (4, "paid debt 300", None, 300),
        (5, "order refunded", None, 0),
    ]


def test_order_lines_get_their_orders_member_and_time(database_url: str) -> None:
    """0019 fills the lines' member and time from their orders, on both databases (a fresh
    database: orders written at head, the columns dropped by the downgrade, then back)."""
    from alembic import command
    from sqlalchemy.orm import Session

    from tests.factories import make_member, make_order, make_store

    if database_url.startswith("sqlite"):
        url = database_url.replace("patron.db", "lines_backfill.db")
    else:
        from tests.conftest import _create_postgres_database

        url = _create_postgres_database()
    engine = db.make_engine(url)
    try:
        migrate.upgrade(engine)
        with Session(engine) as session:
            store = make_store(session)
            member = make_member(session)
            make_order(session, store, member)
            make_order(session, store)
            session.commit()
            expected = session.execute(
                text(
                    "SELECT l.id, o.member_id, o.occurred_at FROM order_lines l"
                    " JOIN orders o ON o.id = l.order_id ORDER BY l.id"
                )
            ).all()
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0018")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            got = conn.execute(
                text("SELECT id, member_id, occurred_at FROM order_lines ORDER BY id")
            ).all()
        assert len(expected) >= 2
        assert any(row[1] is None for row in expected)
        assert [tuple(r) for r in got] == [tuple(r) for r in expected]
    finally:
        engine.dispose()
        if not url.startswith("sqlite"):
            from tests.conftest import _drop_postgres_database

            _drop_postgres_database(url)
