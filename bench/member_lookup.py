"""Member lookup by mobile at scale through the service layer: p50/p99 ms, against a lookup by
primary key in the same run.

    .venv/bin/python bench/member_lookup.py [--members 1000000] [--lookups 5000] [--db both]
"""

from __future__ import annotations

import argparse
import random
import time

from _common import databases, describe_ms, fresh_database, percentile

from patron.core import db
from patron.core.actor import SYSTEM
from patron.demo import people
from patron.members import registry
from patron.members.importer import write_members
from patron.members.models import Member
from patron.members.schemas import ImportReport
from patron.stores import service as stores
from patron.stores.schemas import StoreCreate


def load(count: int) -> list[str]:
    with db.transaction() as session:
        store = stores.create_store(
            session, SYSTEM, StoreCreate(code="L001", name="L", type="owned")
        )
        store_id = store.id
    rows = people.generate(random.Random(7), count, [store_id], {})
    mobiles: list[str] = []

    def keep() -> object:
        for row in rows:
            mobiles.append(row.mobile)
            yield row

    report = ImportReport(dry_run=False, rows=count, created=0, updated=0, skipped=0, errors=[])
    started = time.perf_counter()
    chunk = 50_000
    iterator = keep()
    while len(mobiles) < count:
        with db.transaction() as session:
            batch = [next(iterator) for _ in range(min(chunk, count - len(mobiles)))]
            write_members(session, SYSTEM, batch, report, dry_run=False)  # type: ignore[arg-type]
    print(f"  loaded {report.created:,} members in {time.perf_counter() - started:.0f} s")
    return mobiles


def measure(mobiles: list[str], lookups: int) -> None:
    rng = random.Random(11)
    by_mobile, by_id = [], []
    with db.transaction(read_only=True) as session:
        for _ in range(lookups):
            mobile = rng.choice(mobiles)
            started = time.perf_counter()
            member = registry.find_by_mobile(session, mobile)
            by_mobile.append(time.perf_counter() - started)
            assert member is not None
            assert member.mobile == mobile
            session.expunge_all()
            started = time.perf_counter()
            assert session.get(Member, member.id) is not None
            by_id.append(time.perf_counter() - started)
            session.expunge_all()
    print(f"  by mobile (keyed hash + decrypt): {describe_ms(by_mobile)}")
    print(f"  by primary key (baseline):        {describe_ms(by_id)}")
    print(f"  p50 ratio {percentile(by_mobile, 50) / percentile(by_id, 50):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"member lookup at {args.members:,} members")
    for kind in databases(args.db):
        print(kind)
        with fresh_database(kind):
            mobiles = load(args.members)
            measure(mobiles, args.lookups)


if __name__ == "__main__":
    main()
