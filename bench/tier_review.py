"""The tier review over a million members due: members/s of `tiers.review.run` (one transaction:
locks, qualifying growth, the UPDATE, history and outbox events), target ≥ 100,000 members/s on
PostgreSQL. The data is built set-based (INSERT … SELECT over a series): members on silver, gold
and diamond past their review date, each with one growth entry in the rolling window, about half
below their tier's retention threshold.

.venv/bin/python bench/tier_review.py [--members 1000000] [--db postgresql|sqlite|both]
    [--explain]   # EXPLAIN ANALYZE of the qualifying-growth INSERT (PostgreSQL)
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from _common import databases, fresh_database
from sqlalchemy import text
from sqlalchemy.engine import Engine

from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.tiers import ladder, review
from patron.tiers.models import TierChange

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
TARGET = 100_000
LADDER = (
    ("normal", 0, 0, 0),
    ("silver", 1, 1_000, 800),
    ("gold", 2, 5_000, 4_000),
    ("diamond", 3, 20_000, 15_000),
)


def series(engine: Engine, count: int) -> str:
    """A FROM clause of rows `i` = 1..count."""
    if engine.dialect.name == "postgresql":
        return f"generate_series(1, {count}) AS s(i)"
    return (
        f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) "
        "SELECT i FROM s) AS s"
    )


def load(engine: Engine, count: int) -> None:
    with db.transaction() as session:
        ids = {
            code: ladder.save_tier(
                session,
                SYSTEM,
                {
                    "code": code,
                    "name": code,
                    "rank": rank,
                    "entry_threshold": entry,
                    "retention_threshold": keep,
                },
            ).id
            for code, rank, entry, keep in LADDER
        }
    registered = (NOW - timedelta(days=800)).replace(tzinfo=None).isoformat(sep=" ")
    due = (NOW - timedelta(days=60)).replace(tzinfo=None).isoformat(sep=" ")
    earned = (NOW - timedelta(days=100)).replace(tzinfo=None).isoformat(sep=" ")
    rows = series(engine, count)
    # tier by i % 3: silver, gold, diamond; growth spread over 0..24,999 against retention
    tier = f"CASE i % 3 WHEN 0 THEN {ids['silver']} WHEN 1 THEN {ids['gold']} ELSE {ids['diamond']} END"
    growth = "((i % 25000) * 7919) % 25000"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO members (id, status, gender, channel, registered_at, is_staff, "
                f"created_at, updated_at) SELECT i, 'active', 'unknown', 'pos', '{registered}', "
                f"false, '{registered}', '{registered}' FROM {rows}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO member_tiers (member_id, tier_id, since, review_at, growth, "
                f"updated_at) SELECT i, {tier}, '{registered}', '{due}', {growth}, '{registered}' "
                f"FROM {rows}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO growth_entries (member_id, kind, growth, operator, reason, "
                f"occurred_at, created_at) SELECT i, 'adjust', {growth}, 'bench', '', "
                f"'{earned}', '{earned}' FROM {rows}"
            )
        )
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('members_id_seq', (SELECT max(id) FROM members))"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def bench(kind: str, count: int, explain: bool) -> None:
    with fresh_database(kind) as engine:
        started = time.perf_counter()
        load(engine, count)
        print(f"{kind}: {count:,} members loaded in {time.perf_counter() - started:.1f}s")
        clock.set_now(NOW)
        if explain:
            _explain(engine)
        started = time.perf_counter()
        with db.transaction() as session:
            report = review.run(session, NOW)
        took = time.perf_counter() - started
        with db.transaction() as session:
            history = session.query(TierChange).count()
        rate = report.reviewed / took
        verdict = "meets" if rate >= TARGET else "misses"
        print(
            f"{kind}: reviewed {report.reviewed:,} members, {report.downgraded:,} downgraded "
            f"({history:,} history rows) in {took:.2f}s: {rate:,.0f} members/s "
            f"({verdict} the target of {TARGET:,} members/s on PostgreSQL)"
        )


def _explain(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL jit = off"))
        plan = conn.execute(
            text(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT t.member_id, coalesce(q.s, 0) FROM member_tiers t "
                "LEFT JOIN (SELECT member_id, sum(growth) AS s FROM growth_entries "
                "WHERE occurred_at > :start AND occurred_at <= :now GROUP BY member_id) q "
                "ON q.member_id = t.member_id WHERE t.review_at <= :due"
            ),
            {
                "start": NOW - timedelta(days=365),
                "now": NOW,
                "due": NOW - timedelta(days=30),
            },
        ).all()
        print("\n".join(row[0] for row in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--sqlite-members", type=int, default=100_000)
    parser.add_argument("--db", default="postgresql", choices=["postgresql", "sqlite", "both"])
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    for kind in databases(args.db):
        count = args.sqlite_members if kind == "sqlite" else args.members
        bench(kind, count, args.explain and kind == "postgresql")


if __name__ == "__main__":
    main()
