"""Tags in bulk: a pasted list of 10,000 mobiles tagged in one request's service call, a file of
(member, tag) rows imported, and a rule tag refreshed over every member (set-based: one DELETE,
one INSERT ... SELECT). Wall time of each step on a fresh database.

.venv/bin/python bench/tags_bulk.py [--members 100000] [--db postgresql|sqlite|both]
"""

from __future__ import annotations

import argparse
import time

from _common import databases, fresh_database
from coupon_issue import load_members
from sqlalchemy import select

from patron.core import db
from patron.core.actor import SYSTEM
from patron.members.models import Member
from patron.tags import service
from patron.tags.schemas import BULK_MAX, TagCreate

RULE = "registered_days >= 0"


def measure(kind: str, members: int) -> None:
    with fresh_database(kind):
        ids = load_members(members)
        with db.transaction() as session:
            mobiles = list(
                session.scalars(select(Member.mobile).where(Member.id.in_(ids[:BULK_MAX])))
            )
            tag = service.create_tag(session, SYSTEM, TagCreate(name="VIP"))
        started = time.perf_counter()
        with db.transaction() as session:
            result = service.add_members(session, SYSTEM, tag.id, [m or "" for m in mobiles])
        pasted = time.perf_counter() - started
        print(
            f"{kind}: {len(mobiles):,} pasted mobiles tagged in {pasted:.2f} s"
            f" ({result.counts['added']:,} added)"
        )
        rows = "member,tag\n" + "".join(f"{i},T{i % 10}\n" for i in ids)
        started = time.perf_counter()
        with db.transaction() as session:
            imported = service.import_file(session, SYSTEM, rows.encode(), "tags.csv")
        took = time.perf_counter() - started
        print(
            f"{kind}: a file of {len(ids):,} rows (10 new tags) imported in {took:.2f} s"
            f" ({imported.counts['added']:,} added)"
        )
        try:
            from patron.tags import rules
        except ImportError:
            print("rule tags: the segment language is not there yet")
            return
        with db.transaction() as session:
            rule_tag = service.create_tag(
                session,
                SYSTEM,
                TagCreate.model_validate({"name": "all", "kind": "rule", "rule": RULE}),
            )
        for attempt in ("first", "again"):
            started = time.perf_counter()
            with db.transaction() as session:
                tag_row = service.get_tag(session, rule_tag.id)
                done = rules.refresh(session, SYSTEM, tag_row)
            took = time.perf_counter() - started
            print(
                f"{kind}: rule tag refresh ({attempt}) over {members:,} members in {took:.2f} s"
                f" (+{done.added:,}, -{done.removed:,})"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="postgresql")
    args = parser.parse_args()
    for kind in databases(args.db):
        measure(kind, args.members)


if __name__ == "__main__":
    main()
