"""The reports on PostgreSQL (issue 20): the daily facts' full build and an incremental refresh
after 1,000 new orders, then every registered report (`patron.reports.catalog`) through the
service layer (`report_query` + `registry.run`, as the API calls them) over the last 30 days
and the last year, chain-wide (HQ) and for one store's manager, p50/p99 over several warm runs.

Targets: the overview ≤ 500 ms, every report ≤ 2 s; on the demo data (`--demo`) ≤ 200 ms.

The data is bench/_profiles_data.py's (1,000,000 members, 10,000,000 orders; generated the
first time, then kept); with `--demo`, `patron demo`'s chain, loaded once into
`patron_bench_reports_demo` and kept.

.venv/bin/python bench/reports.py [--members 1000000] [--orders 10000000] [--fresh]
    [--database patron_bench_profiles] [--runs 7] [--only overview] [--explain]
.venv/bin/python bench/reports.py --demo [--demo-members 20000] [--fresh-demo]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import _profiles_data as data
import psycopg
from _common import percentile
from sqlalchemy import Engine, event, text

from patron.core import clock, db, migrate
from patron.core.actor import SYSTEM, Actor, Role
from patron.reports import catalog, facts, registry
from patron.reports.query import Period, report_query

OVERVIEW_TARGET = 0.5
REPORT_TARGET = 2.0
DEMO_TARGET = 0.2
DEMO_DATABASE = "patron_bench_reports_demo"
NEW_ORDERS = 1000
FACTS = "sales_day_facts, member_day_facts, ledger_day_facts, member_days, member_store_days"
__all__ = ["catalog"]  # imported for the reports it declares


def store_manager(store_id: int) -> Actor:
    return Actor(
        kind="staff", id=None, name="bench manager", role=Role.store_manager,
        store_ids=frozenset({store_id}),
    )  # fmt: skip


class Statements:
    """The statements of the last timed call, with their wall time (for --explain)."""

    def __init__(self, engine: Engine) -> None:
        self.rows: list[tuple[float, str, Any]] = []
        self._started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        took = time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())
        self.rows.append((took, statement, params))


def build_facts(engine: Engine, now: datetime) -> None:
    with engine.connect() as conn:
        orders, refunds = conn.execute(
            text("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM refunds)")
        ).one()
    started = time.perf_counter()
    with db.transaction() as session:
        days = facts.rebuild(session, now)
    took = time.perf_counter() - started
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f"VACUUM ANALYZE {FACTS}")
        )
        sizes = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM sales_day_facts), "
                "(SELECT count(*) FROM member_day_facts), (SELECT count(*) FROM ledger_day_facts), "
                "(SELECT count(*) FROM member_days), (SELECT count(*) FROM member_store_days)"
            )
        ).one()
    print(
        f"facts, full build: {took:.1f} s for {days:,} days, {orders + refunds:,} orders and "
        f"refunds read ({(orders + refunds) / took:,.0f} rows/s); facts rows: sales "
        f"{sizes[0]:,}, members {sizes[1]:,}, ledgers {sizes[2]:,}, member days {sizes[3]:,}, "
        f"member store days {sizes[4]:,}"
    )


def incremental(engine: Engine, now: datetime) -> None:
    """1,000 orders copied from the last ones into the hour before `now` (set-based, as a
    till's day would arrive), the refresh timed, then taken out again (untimed)."""
    copy = text(
        "INSERT INTO orders (store_id, external_id, channel, member_id, occurred_at, total, "
        "refunded_amount, status, tier_id, tier_discount_amount, created_at) "
        "SELECT store_id, 'BENCH-' || id, channel, member_id, "
        ":now - (random() * interval '1 hour'), total, 0, 'completed', NULL, 0, :now "
        "FROM orders ORDER BY id DESC LIMIT :n"
    )
    with engine.begin() as conn:
        conn.execute(copy, {"now": now, "n": NEW_ORDERS})
    started = time.perf_counter()
    with db.transaction() as session:
        days = facts.refresh(session, now)
    took = time.perf_counter() - started
    print(f"facts, refresh after {NEW_ORDERS:,} new orders: {took * 1000:,.0f} ms ({days} days)")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orders WHERE external_id LIKE 'BENCH-%'"))
    with db.transaction() as session:
        facts.recompute(session, _last_days(now, 2), now)


def vacuum(engine: Engine) -> None:
    """The facts as autovacuum leaves them between refreshes: index-only scans need the pages
    marked all-visible (a day rewritten since waits for the next vacuum)."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f"VACUUM ANALYZE {FACTS}")
        )
        pages, visible = conn.execute(
            text("SELECT relpages, relallvisible FROM pg_class WHERE relname = 'member_day_facts'")
        ).one()
    print(f"facts vacuumed: member_day_facts {visible:,} of {pages:,} pages all-visible")


def _last_days(now: datetime, count: int) -> list[Any]:
    today = now.astimezone(clock.business_tz()).date()
    return [today - timedelta(days=n) for n in range(count)]


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def reports(
    engine: Engine, now: datetime, store_id: int, args: argparse.Namespace, demo: bool
) -> bool:
    today = now.astimezone(clock.business_tz()).date()
    periods = {
        "30 days": Period(today - timedelta(days=29), today),
        "1 year": Period(today - timedelta(days=364), today),
    }
    scopes = {"HQ": SYSTEM, "one store": store_manager(store_id)}
    statements = Statements(engine)
    print(f"\n{'report':<20} {'period':<8} {'scope':<10} {'p50 ms':>9} {'p99 ms':>9}  target")
    missed, slow = False, []
    for name, report in registry.REPORTS.items():
        if args.only and name not in args.only:
            continue
        target = DEMO_TARGET if demo else OVERVIEW_TARGET if name == "overview" else REPORT_TARGET
        for label, period in periods.items():
            for who, actor in scopes.items():
                if not report.permission.allows(actor) or (name, who) == ("store", "HQ"):
                    continue  # HQ's reports (campaigns); one store's page

                def ask(
                    actor: Actor = actor, period: Period = period, report: Any = report
                ) -> None:
                    with db.transaction(read_only=True) as session:
                        query = report_query(session, actor, period)
                        registry.run(session, actor, report, query)

                timed(ask)  # cold
                samples = []
                for _ in range(args.runs):
                    statements.rows.clear()
                    samples.append(timed(ask))
                p50, p99 = percentile(samples, 50), percentile(samples, 99)
                met = p99 <= target
                missed |= not met
                if not met:
                    slow.append((name, label, who, list(statements.rows)))
                print(
                    f"{name:<20} {label:<8} {who:<10} {p50 * 1000:9.1f} {p99 * 1000:9.1f}  "
                    f"{'meets' if met else 'MISSES'} ≤ {target * 1000:.0f} ms"
                )
    if args.explain:
        for name, label, who, rows in slow:
            timed_reads = [r for r in rows if not r[1].startswith("SET ")]
            for took, statement, params in sorted(timed_reads, key=lambda r: -r[0])[:3]:
                print(f"\n--- {name} {label} {who}: {took * 1000:.0f} ms\n{statement}")
                print(explain(engine, statement, params))
    return missed


def explain(engine: Engine, statement: str, params: Any) -> str:
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
        conn.rollback()
    return plan


def demo_engine(members: int, fresh: bool) -> Engine:
    """`patron demo`'s chain in DEMO_DATABASE, loaded once (its facts built by the command)."""
    from patron import cli

    url = data.database_url(DEMO_DATABASE)
    kept = None
    if not fresh:
        try:
            with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3) as conn:
                row = conn.execute("SELECT members FROM bench_demo_data").fetchone()
                kept = row[0] if row else None
        except psycopg.Error:
            kept = None
    if kept != members:
        with psycopg.connect(data.POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DEMO_DATABASE}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    db.configure(engine)
    if kept != members:
        started = time.perf_counter()
        cli.demo(if_empty=False, members=members, orders=True, seed=2026)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_demo_data (members integer)"))
            conn.execute(text(f"INSERT INTO bench_demo_data VALUES ({members})"))
        print(f"demo data loaded in {time.perf_counter() - started:.0f} s")
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--database", default=data.DATABASE)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", action="append", help="only this report (repeatable)")
    parser.add_argument("--explain", action="store_true", help="plans of the missed reports")
    parser.add_argument(
        "--skip-build", action="store_true", help="reuse the facts built by a run before"
    )
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--demo-members", type=int, default=20_000)
    parser.add_argument("--fresh-demo", action="store_true")
    args = parser.parse_args()
    if not data.postgres_reachable():
        raise SystemExit(f"PostgreSQL not reachable at {data.POSTGRES_ADMIN_URL}")
    if args.demo:
        engine = demo_engine(args.demo_members, args.fresh_demo)
        now = clock.now()
        print(f"reports on the demo data ({args.demo_members:,} members), PostgreSQL")
    else:
        info = data.ensure_apart(args.members, args.orders, args.seed, args.fresh, args.database)
        engine = data.connect(info)
        now = data.NOW
        clock.set_now(now)
        print(f"reports: {info.members:,} members, {info.orders:,} orders, PostgreSQL")
        if not args.skip_build:
            build_facts(engine, now)
        incremental(engine, now)
        vacuum(engine)
    with engine.connect() as conn:
        store_id = conn.execute(
            text(
                "SELECT store_id FROM sales_day_facts GROUP BY store_id "
                "ORDER BY sum(orders) DESC LIMIT 1"
            )
        ).scalar_one()
    missed = reports(engine, now, store_id, args, args.demo)
    engine.dispose()
    if missed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
