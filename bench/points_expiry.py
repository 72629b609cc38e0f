"""The points job over a million lots: lots/s expired, against a bare UPDATE of as many rows.

.venv/bin/python bench/points_expiry.py [--lots 1000000] [--members 100000] [--db postgresql]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import cast

from _common import databases, fresh_database
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, update

from patron.core import db
from patron.core.actor import SYSTEM
from patron.demo import people
from patron.members import registry
from patron.members.importer import write_members
from patron.members.schemas import ImportReport
from patron.points import jobs
from patron.points.models import PointsAccount, PointsLot
from patron.stores import service as stores
from patron.stores.schemas import StoreCreate

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def load(lots: int, member_count: int) -> None:
    with db.transaction() as session:
        store_id = stores.create_store(
            session, SYSTEM, StoreCreate(code="P001", name="P", type="owned")
        ).id
    report = ImportReport(dry_run=False, rows=0, created=0, updated=0, skipped=0, errors=[])
    with db.transaction() as session:
        write_members(
            session,
            SYSTEM,
            people.generate(random.Random(1), member_count, [store_id], {}),
            report,
            dry_run=False,
        )
    with db.transaction() as session:
        ids = [m.id for m in registry.roster(session)]
    per_member = lots // len(ids)
    rng = random.Random(2)
    lot_table, account_table = (
        cast(Table, PointsLot.__table__),
        cast(Table, PointsAccount.__table__),
    )
    with db.get_engine().begin() as conn:
        conn.execute(
            insert(account_table),
            [
                {
                    "member_id": i,
                    "available": 100 * per_member,
                    "pending": 0,
                    "debt": 0,
                    "updated_at": NOW,
                }
                for i in ids
            ],
        )
        rows = []
        for member_id in ids:
            for _ in range(per_member):
                earned = NOW - timedelta(days=rng.randint(400, 800))
                rows.append(
                    {
                        "member_id": member_id,
                        "order_id": None,
                        "store_id": store_id,
                        "points": 100,
                        "remaining": 100,
                        "status": "available",
                        "earned_at": earned,
                        "release_at": earned,
                        "expires_at": earned + timedelta(days=365),
                    }
                )
            if len(rows) >= 50_000:
                conn.execute(insert(lot_table), rows)
                rows = []
        if rows:
            conn.execute(insert(lot_table), rows)


def bare_update_rate(rows: int) -> float:
    table = Table(
        "bench_bare",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("status", String(16)),
        Column("n", Integer),
    )
    engine = db.get_engine()
    table.create(engine)
    with engine.begin() as conn:
        for start in range(0, rows, 50_000):
            conn.execute(
                insert(table),
                [
                    {"status": "available", "n": 100}
                    for _ in range(start, min(rows, start + 50_000))
                ],
            )
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            update(table).where(table.c.status == "available").values(status="expired", n=0)
        )
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--db", default="postgresql", choices=["both", "sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in databases(args.db):
        with fresh_database(kind):
            started = time.perf_counter()
            load(args.lots, args.members)
            print(
                f"points expiry on {kind}: {args.lots:,} lots of {args.members:,} members loaded in {time.perf_counter() - started:.0f} s"
            )
            started = time.perf_counter()
            with db.transaction() as session:
                report = jobs.run(session, NOW)
            elapsed = time.perf_counter() - started
            with db.transaction() as session:
                again = jobs.run(session, NOW)
            assert report.expired_lots == args.lots // args.members * args.members, report
            assert again.expired_lots == 0
            rate = report.expired_lots / elapsed
            baseline = bare_update_rate(report.expired_lots)
            print(
                f"{kind:10s} expired {report.expired_lots:,} lots ({report.expired_points:,} points) in {elapsed:.1f} s: {rate:,.0f} lots/s; "
                f"bare UPDATE of as many rows {baseline:,.0f} rows/s; ratio {rate / baseline:.2f}"
            )


if __name__ == "__main__":
    main()
