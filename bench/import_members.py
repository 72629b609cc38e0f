"""Member import from CSV: rows/s on SQLite and PostgreSQL, against a raw insert baseline. The
import runs as the API, the console and the CLI run it: measured, then loaded in batches that each
commit, its record kept up to date.

.venv/bin/python bench/import_members.py [--rows 100000] [--db both|sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time
from typing import Any

from _common import databases, fresh_database
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from patron.core import db
from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from patron.demo import people
from patron.imports import runner
from patron.imports.models import ImportKind
from patron.stores import service as stores
from patron.stores.schemas import StoreCreate

STORE_CODES = [f"B{n:03d}" for n in range(20)]


def make_csv(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["手机号", "姓名", "生日", "性别", "开卡门店", "卡号"])
    rng = random.Random(42)
    for row in people.generate(rng, rows, [1], {}):
        birthday = row.fields.get("birthday")
        writer.writerow(
            [
                row.mobile.removeprefix("+86"),
                row.fields["name"],
                birthday.isoformat() if birthday else "",
                "女" if row.fields["gender"] == "female" else "男",
                rng.choice(STORE_CODES),
                row.card_no or "",
            ]
        )
    return buffer.getvalue().encode()


def run_import(kind: ImportKind, content: bytes) -> dict[str, Any]:
    """An import of `content` through the runner every entry point uses; its report."""
    sessions = db.session_factory()
    upload = runner.Upload(kind, content, "bench.csv", dry_run=False)
    import_id = runner.accept(sessions, upload, SYSTEM)
    record = runner.run(sessions, import_id, upload, SYSTEM, Settings()).record
    assert record.report is not None, record.problem
    return record.report


def raw_insert_rate(rows: int) -> float:
    """Rows/s of a plain executemany of similar width into a bare table: the floor to compare to."""
    table = Table(
        "bench_raw",
        MetaData(),
        Column("id", Integer, primary_key=True),
        *(Column(f"c{n}", String(400)) for n in range(8)),
    )
    engine = db.get_engine()
    table.create(engine)
    payload = [{f"c{n}": f"value-{i}-{n}" * 3 for n in range(8)} for i in range(rows)]
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, rows, 1000):
            conn.execute(insert(table), payload[start : start + 1000])
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    args = parser.parse_args()
    content = make_csv(args.rows)
    print(f"member import, {args.rows:,} CSV rows ({len(content) / 1e6:.1f} MB)")
    for kind in databases(args.db):
        with fresh_database(kind):
            with db.transaction() as session:
                for code in STORE_CODES:
                    stores.create_store(
                        session, SYSTEM, StoreCreate(code=code, name=code, type="owned")
                    )
            started = time.perf_counter()
            report = run_import(ImportKind.members, content)
            elapsed = time.perf_counter() - started
            assert report["created"] == args.rows, report
            started = time.perf_counter()
            again = run_import(ImportKind.members, content)
            reimport = time.perf_counter() - started
            assert again["skipped"] == args.rows
            baseline = raw_insert_rate(args.rows)
            rate = args.rows / elapsed
            print(
                f"{kind:10s} import {rate:8,.0f} rows/s ({elapsed:.1f} s); "
                f"re-import (no-op) {args.rows / reimport:8,.0f} rows/s; "
                f"raw insert baseline {baseline:8,.0f} rows/s; ratio {rate / baseline:.2f}"
            )


if __name__ == "__main__":
    main()
