"""Bulk issue: one call of `issue_coupons` giving a coupon to each of a million existing members,
as an operator's file or a campaign would. Reports coupons/s (wall), the CPU per coupon of this
process (`time.process_time()`, so other load on a shared machine does not count) and of the
PostgreSQL backends on this host, and a COPY of the same rows alone as the floor.

.venv/bin/python bench/coupon_issue.py [--members 1000000] [--db postgresql|sqlite|both]
.venv/bin/python bench/coupon_issue.py --rss [--members 1000000]   # peak RSS of the issue
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

from _common import databases, fresh_database
from import_members import Measured
from sqlalchemy import func, select, text

from patron.core import bulk, clock, db
from patron.core.actor import SYSTEM
from patron.coupons import codes, issuing, templates
from patron.coupons.models import Coupon, IssueSource
from patron.demo import people
from patron.members import registry
from patron.members.importer import write_members
from patron.members.schemas import ImportReport
from patron.stores import service as stores
from patron.stores.schemas import StoreCreate

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def load_members(count: int) -> list[int]:
    with db.transaction() as session:
        store_id = stores.create_store(
            session, SYSTEM, StoreCreate(code="C001", name="C", type="owned")
        ).id
    report = ImportReport(dry_run=False, rows=0, created=0, updated=0, skipped=0, errors=[])
    with db.transaction() as session:
        rows = people.generate(random.Random(1), count, [store_id], {})
        write_members(session, SYSTEM, rows, report, dry_run=False)
    with db.transaction() as session:
        session.execute(text("ANALYZE"))
        return [m.id for m in registry.roster(session)]


def make_template() -> int:
    with db.transaction() as session:
        return templates.create_template(
            session,
            SYSTEM,
            {
                "name": "双十一满100减20",
                "type": "cash_off",
                "status": "active",
                "threshold": 10000,
                "amount": 2000,
                "valid_days": 30,
                "per_member_limit": 1,
                "total_stock": 2 * 10**7,
            },
        ).id


def issue(template_id: int, member_ids: list[int]) -> int:
    with clock.frozen(NOW), db.transaction() as session:
        result = issuing.issue_coupons(
            session, SYSTEM, template_id, member_ids, source=IssueSource.campaign
        )
        assert not result.refused, result.refused[:3]
        return len(result.issued)


def copy_floor(member_ids: list[int]) -> float:
    """Coupons/s of COPY alone: the same rows, codes drawn, ids reserved, into the table."""
    template_id = make_template()
    started = time.perf_counter()
    with db.transaction() as session:
        for start in range(0, len(member_ids), issuing.BATCH):
            batch = member_ids[start : start + issuing.BATCH]
            ids = bulk.reserve_ids(session, issuing.COUPONS, len(batch))
            rows = (
                (i, code, template_id, m, "available", "campaign", "", None, "bench", NOW)
                + (NOW.date(), NOW, NOW, "")
                for i, code, m in zip(ids, codes.new_codes(len(batch)), batch, strict=True)
            )
            bulk.copy_rows(session, issuing.COUPONS, issuing.COLUMNS, rows)
    return len(member_ids) / (time.perf_counter() - started)


def measure(kind: str, members: int) -> None:
    with fresh_database(kind) as engine:
        started = time.perf_counter()
        member_ids = load_members(members)
        print(
            f"{kind}: {len(member_ids):,} members loaded in {time.perf_counter() - started:.0f} s"
        )
        template_id = make_template()
        with Measured(engine) as first:
            issued = issue(template_id, member_ids)
        assert issued == len(member_ids)
        with db.transaction() as session:
            count = session.scalar(select(func.count()).select_from(Coupon))
        assert count == issued
        # Again: every member at the limit, all refused, nothing written.
        with Measured(engine) as again, clock.frozen(NOW), db.transaction() as session:
            refused = issuing.issue_coupons(
                session, SYSTEM, template_id, member_ids, source=IssueSource.campaign
            ).refused
        assert len(refused) == issued
        floor = copy_floor(member_ids)
        rate = issued / first.wall
        print(
            f"{kind:10s} issue {rate:9,.0f} coupons/s ({first.wall:.1f} s; {first.per_row(issued)}); "
            f"again, all at their limit: {issued / again.wall:9,.0f} members/s\n"
            f"{'':10s} floor: the same rows by COPY alone {floor:9,.0f} rows/s, ratio {rate / floor:.2f}"
        )


def issue_in_fresh_process(kind: str, members: int) -> tuple[float, float, float]:
    """(coupons/s, peak RSS in MB before the issue, after it) of this process."""
    with fresh_database(kind):
        member_ids = load_members(members)
        template_id = make_template()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        issued = issue(template_id, member_ids)
        rate = issued / (time.perf_counter() - started)
    return rate, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--db", default="postgresql", choices=["both", "sqlite", "postgresql"])
    parser.add_argument("--rss", action="store_true", help="peak RSS of the issue")
    args = parser.parse_args()
    print(f"coupon issue: one coupon to each of {args.members:,} members in one call")
    for kind in databases(args.db):
        if args.rss:
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                rate, before, peak = pool.submit(
                    issue_in_fresh_process, kind, args.members
                ).result()
            print(
                f"{kind:10s} issue {rate:9,.0f} coupons/s; peak RSS {before:,.0f} MB before, {peak:,.0f} MB after"
            )
            continue
        measure(kind, args.members)


if __name__ == "__main__":
    main()
