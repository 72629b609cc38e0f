"""The ledger reports, the leaderboards and the store page over a chain of a million members and
ten million orders' worth of daily facts on PostgreSQL: seconds per report, chain-wide and for
one store's manager, over the default 30 days and over a year.

The rows go in set-based (generate_series) into a fresh database: 200 stores, 1,000 guides,
1,000,000 members registered over three years (two in three opened by a guide), three years of
sales facts (200 stores × 3 channels a day, ~10,000,000 orders), member facts (one row per
member order, ~9,000,000), ledger facts, 6,000,000 live points lots expiring over the next two
years, and 100,000 stored-value accounts with 300,000 recharges. The coupon and campaign reports
read coupons and orders (their domains' reports), which this does not generate.

.venv/bin/python bench/ledger_reports.py [--members 1000000] [--member-facts 9000000]
    [--lots 6000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from _common import fresh_database
from sqlalchemy import Engine, text

from patron.core import clock, db
from patron.core.actor import SYSTEM, Actor, Role
from patron.reports import catalog, facts, registry
from patron.reports.query import Period, ReportQuery

TODAY = date(2026, 11, 1)
NOW = datetime(2026, 11, 1, 6, tzinfo=UTC)
FIRST = TODAY - timedelta(days=3 * 365)
STORES, GUIDES = 200, 1000
REPORTS = ("points", "stored_value", "leaderboard_stores", "leaderboard_guides", "store")


def load(engine: Engine, members: int, member_facts: int, lots: int) -> None:
    days = (TODAY - FIRST).days + 1
    statements = [
        f"""INSERT INTO stores (id, code, name, type, city, address, phone, status, created_at,
            updated_at)
        SELECT i, 'S' || lpad(i::text, 4, '0'), 'Store ' || i, 'owned', '上海', '', '', 'open',
            now(), now() FROM generate_series(1, {STORES}) i""",
        f"""INSERT INTO staff_users (id, username, display_name, password_hash, role, all_stores,
            is_active, failed_logins, token_version, created_at, updated_at)
        SELECT i, 'guide' || i, 'Guide ' || i, 'x', 'guide', false, true, 0, 0, now(), now()
        FROM generate_series(1, {GUIDES}) i""",
        # Guide g works at store 1 + (g - 1) % STORES; a member's guide is of their store.
        f"""INSERT INTO members (id, registered_at, channel, gender, status, created_at,
            updated_at, store_id, opening_guide_id, guide_id)
        SELECT i, t, 'store', 'unknown', 'active', t, t, 1 + i % {STORES},
            g, g
        FROM generate_series(1, {members}) i,
            LATERAL (SELECT TIMESTAMPTZ '{FIRST}' + (i::float / {members}) * INTERVAL '{days}
                days' AS t) r,
            LATERAL (SELECT CASE WHEN i % 3 = 0 THEN NULL
                ELSE 1 + i % {STORES} + {STORES} * (i % {GUIDES // STORES}) END AS g) s""",
        f"""INSERT INTO sales_day_facts (day, store_id, channel, orders, sales, refunded,
            member_orders, member_sales, member_refunded)
        SELECT d, s, c, n, n * 12000, n * 300, n * 9 / 10, n * 9 / 10 * 12000, n * 270
        FROM generate_series(DATE '{FIRST}', DATE '{TODAY}', INTERVAL '1 day') d,
            generate_series(1, {STORES}) s,
            unnest(ARRAY['pos', 'online_mall', 'mini_program']) c,
            LATERAL (SELECT (5 + random() * 20)::int + s * 0 AS n) r""",
        f"""INSERT INTO member_day_facts (day, member_id, store_id, channel, orders, net_sales)
        SELECT DATE '{FIRST}' + (k * 7 % {days}), m, 1 + m % {STORES}, 'pos', 1 + (k % 7 = 0)::int,
            10000 + k % 20000
        FROM generate_series(1, {member_facts}) k,
            LATERAL (SELECT 1 + (k::bigint * 7919) % {members} AS m) r
        ON CONFLICT DO NOTHING""",
        f"""INSERT INTO ledger_day_facts (day, store_id, points_earned, points_burned,
            points_expired, points_adjusted, sv_recharged, sv_bonus, sv_spent, sv_refunded,
            sv_adjusted)
        SELECT d, s, 20000, 5000, 1000, 10, 300000, 20000, 250000, 1000, 0
        FROM generate_series(DATE '{FIRST}', DATE '{TODAY}', INTERVAL '1 day') d,
            generate_series(0, {STORES}) s""",
        f"""INSERT INTO points_lots (member_id, store_id, points, remaining, status, earned_at,
            expires_at)
        SELECT 1 + k % {members}, 1 + k % {STORES}, 200, 100 + k % 100, 'available',
            TIMESTAMPTZ '{NOW}' - (k % 700) * INTERVAL '1 day',
            (DATE '{TODAY}' + (1 + k % 730) + TIME '23:59:59') AT TIME ZONE 'Asia/Shanghai'
        FROM generate_series(1, {lots}) k""",
        f"""INSERT INTO stored_value_accounts (member_id, principal, bonus, failed_verifications,
            updated_at)
        SELECT k * 10, 5000 + k % 50000, k % 3000, 0, now()
        FROM generate_series(1, {members // 10}) k""",
        f"""INSERT INTO stored_value_recharges (member_id, store_id, principal, bonus, status,
            payment_method, payment_reference, operator, created_at)
        SELECT (1 + k % {members // 10}) * 10, 1 + k % {STORES}, 30000, 2000,
            'completed', 'cash', '', 'bench', TIMESTAMPTZ '{NOW}' - (k % 900) * INTERVAL '1 day'
        FROM generate_series(1, {members * 3 // 10}) k""",
        "ANALYZE",
    ]
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for statement in statements:
            started = time.perf_counter()
            conn.execute(text(statement))
            print(f"  {statement.split('(')[0].strip():40} {time.perf_counter() - started:6.1f} s")


def link(engine: Engine) -> None:
    """The member days from the member facts, as a refresh leaves them."""
    started = time.perf_counter()
    with db.transaction() as session:
        facts.link_member_days(session)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    print(f"  {'member days linked, vacuumed':40} {time.perf_counter() - started:6.1f} s")


def measure(rounds: int) -> None:
    manager = Actor("staff", 1, "manager", Role.store_manager, frozenset({7}))
    periods = {
        "30 days": Period(TODAY - timedelta(days=29), TODAY),
        "365 days": Period(TODAY - timedelta(days=364), TODAY),
    }
    print(f"{'report':20} {'reader':8} {'period':9} median of {rounds} (s)")
    for name in REPORTS:
        report = registry.get(name)
        for label, period in periods.items():
            for reader, actor, stores in (
                ("chain", SYSTEM, None),
                ("store", manager, manager.store_ids),
            ):
                if name == "store" and stores is None:
                    continue
                times = []
                for _ in range(rounds):
                    with db.transaction() as session:
                        started = time.perf_counter()
                        registry.run(session, actor, report, ReportQuery(period, stores))
                        times.append(time.perf_counter() - started)
                print(f"{name:20} {reader:8} {label:9} {statistics.median(times):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--member-facts", type=int, default=9_000_000)
    parser.add_argument("--lots", type=int, default=6_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    assert catalog.registry is registry
    with fresh_database("postgresql") as engine:
        print("loading")
        load(engine, args.members, args.member_facts, args.lots)
        link(engine)
        with clock.frozen(NOW):
            measure(args.rounds)


if __name__ == "__main__":
    main()
