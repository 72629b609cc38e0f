"""The tier review over a million members due: members/s of `tiers.review.run` (one transaction:
the decision over the due members, locks on those going down, the UPDATE, history and outbox
events), target ≥ 100,000 members/s on PostgreSQL. The data is built set-based (INSERT … SELECT
over a series): members on silver, gold and diamond past their review date, each with one growth
entry in the rolling window, about a quarter below their tier's retention threshold.

.venv/bin/python bench/tier_review.py [--members 1000000] [--db postgresql|sqlite|both]
    [--profile]   # each statement's wall time, and on PostgreSQL the server backend's CPU time
    [--explain]   # EXPLAIN ANALYZE of the decision's INSERT … SELECT (PostgreSQL)
    [--journeys 1]  # running journeys triggered by `member.tier_changed` (down): every member
                    # gone down enters each (the review's in-process subscribers at work)
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import databases, fresh_database
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.tiers import ladder, review
from patron.tiers.models import TierChange
from patron.tiers.program import program

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


def load(engine: Engine, count: int, journeys: int = 0) -> None:
    with db.transaction() as session:
        for n in range(journeys):
            _journey(session, n)
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


def _journey(session: Session, n: int) -> None:
    """A running journey every member going down enters (its only step: exit)."""
    from patron.journeys import service as journeys
    from patron.journeys.schemas import JourneyIn

    body = {
        "name": f"降级关怀 {n}",
        "trigger": {"event": "member.tier_changed", "direction": "down"},
        "steps": [{"key": "x", "type": "exit"}],
    }
    journey = journeys.create(session, SYSTEM, JourneyIn.model_validate(body))
    journeys.move(session, SYSTEM, journey.id, "activate")


def _entries() -> int:
    with db.transaction() as session:
        return int(session.execute(text("SELECT count(*) FROM journey_entries")).scalar_one())


def bench(kind: str, count: int, explain: bool, profile: bool, journeys: int = 0) -> None:
    with fresh_database(kind) as engine:
        started = time.perf_counter()
        load(engine, count, journeys)
        print(f"{kind}: {count:,} members loaded in {time.perf_counter() - started:.1f}s")
        clock.set_now(NOW)
        if explain:
            _explain(engine)
        if profile:
            _profile(engine)
        started = time.perf_counter()
        with db.transaction() as session:
            backend = _backend(session)
            cpu = _cpu_seconds(backend)
            report = review.run(session, NOW)
            cpu = _cpu_seconds(backend) - cpu
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
        if backend is not None:
            print(f"{kind}: the server backend's CPU time {cpu:.2f}s")
        if journeys:
            print(f"{kind}: {_entries():,} journey entries ({journeys} journeys)")


def _backend(session: Session) -> int | None:
    """The PostgreSQL backend's process id when the server runs on this machine."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def _cpu_seconds(pid: int | None) -> float:
    """User and system CPU time of a process (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def _profile(engine: Engine) -> None:
    """Print every statement of the run that takes over 20 ms: wall time, backend CPU time."""
    started: dict[int, tuple[float, float]] = {}
    backend: dict[str, int | None] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "pid" not in backend and engine.dialect.name == "postgresql":
            backend["pid"] = None  # pg_backend_pid() below passes through here too
            backend["pid"] = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        started[id(cursor)] = (time.perf_counter(), _cpu_seconds(backend.get("pid")))

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        wall, cpu = started.pop(id(cursor), (time.perf_counter(), 0.0))
        took = time.perf_counter() - wall
        if took > 0.02:
            used = _cpu_seconds(backend.get("pid")) - cpu
            print(f"  {took:7.3f}s wall {used:6.2f}s cpu  {' '.join(statement.split())[:80]}")


def _explain(engine: Engine) -> None:
    with db.transaction() as session:
        prog = program(session)
        cutoff = NOW - timedelta(days=prog.grace_days)
        session.execute(text("SET LOCAL jit = off"))
        review.MOVING.create(session.connection())
        decide = review._decided(
            prog, ladder.ladder(session), NOW, review._due(session, prog, None, cutoff), True
        )
        sql = decide.compile(engine, compile_kwargs={"literal_binds": True})
        plan = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).all()
        print("\n".join(row[0] for row in plan))
        session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--sqlite-members", type=int, default=100_000)
    parser.add_argument("--db", default="postgresql", choices=["postgresql", "sqlite", "both"])
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--journeys", type=int, default=0)
    args = parser.parse_args()
    if args.journeys:
        from patron import domains

        domains.load()  # the subscribers of `member.tier_changed`, as in the app
    for kind in databases(args.db):
        count = args.sqlite_members if kind == "sqlite" else args.members
        bench(kind, count, args.explain and kind == "postgresql", args.profile, args.journeys)


if __name__ == "__main__":
    main()
