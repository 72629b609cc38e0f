"""Member import from CSV: rows/s on SQLite and PostgreSQL, against two baselines of the same
run. The import runs as the API, the console and the CLI run it: measured, then loaded in
batches that each commit, its record kept up to date.

Baselines: a plain executemany into a bare table of similar width; and the import's own rows
(members, their cards, their audit entries) deleted and written again by the driver alone,
1,000 members per transaction, which is what the schema costs without Patron's Python.
CPU per row is the import's process (`time.process_time()`, so other load on a shared machine
does not count) and, on PostgreSQL on this host, its server backends.

.venv/bin/python bench/import_members.py [--rows 100000] [--db both|sqlite|postgresql]
.venv/bin/python bench/import_members.py --rss [--rows 1000000]   # peak RSS of the import
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from _common import databases, fresh_database
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, text

from patron.core import db
from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from patron.demo import people
from patron.imports import runner
from patron.imports.models import ImportKind
from patron.stores import service as stores
from patron.stores.schemas import StoreCreate

STORE_CODES = [f"B{n:03d}" for n in range(20)]
# The rows the import writes for its members, in the order their foreign keys need: those of
# the members with ids from :low to :high, and all of them.
MEMBER_TABLES = {
    "members": ("id BETWEEN :low AND :high", "1 = 1"),
    "member_identities": ("member_id BETWEEN :low AND :high", "1 = 1"),
    "audit_entries": (
        "entity_type = 'member' AND entity_id IN "
        "(SELECT CAST(id AS VARCHAR(64)) FROM members WHERE id BETWEEN :low AND :high)",
        "entity_type = 'member'",
    ),
}
FLOOR_BATCH = 1000


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


def create_stores() -> None:
    with db.transaction() as session:
        for code in STORE_CODES:
            stores.create_store(session, SYSTEM, StoreCreate(code=code, name=code, type="owned"))


def run_import(kind: ImportKind, content: bytes) -> dict[str, Any]:
    """An import of `content` through the runner every entry point uses; its report."""
    sessions = db.session_factory()
    upload = runner.Upload(kind, content, "bench.csv", dry_run=False)
    import_id = runner.accept(sessions, upload, SYSTEM)
    record = runner.run(sessions, import_id, upload, SYSTEM, Settings()).record
    assert record.report is not None, record.problem
    return record.report


class Measured:
    """Wall time, this process's CPU and (PostgreSQL on this host) its backends' CPU."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> Measured:
        self._backends = backend_cpu(self.engine)
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        after = backend_cpu(self.engine)
        self.server = sum(after.values()) - sum(self._backends.get(pid, 0.0) for pid in after)

    def per_row(self, rows: int) -> str:
        figures = f"client {self.cpu / rows * 1e6:.0f} µs"
        if self.server:
            figures += f", server {self.server / rows * 1e6:.0f} µs"
        return f"CPU per row: {figures}"


def backend_cpu(engine: Engine) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to this database, read
    from /proc when the server runs on this host; {} on SQLite or when it cannot be read."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return found


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


def driver_floor(engine: Engine) -> float:
    """Members/s of the import's own rows deleted and written again by the driver alone (COPY
    or executemany), FLOOR_BATCH members with their cards and audit entries per transaction."""
    with engine.connect() as conn:
        low, high = conn.execute(text("SELECT min(id), max(id) FROM members")).one()
    starts = range(low, high + 1, FLOOR_BATCH)
    ranges = [(start, min(start + FLOOR_BATCH - 1, high)) for start in starts]
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        postgres = engine.dialect.name == "postgresql"
        batches = list(_saved_batches(driver, ranges, postgres))
        _delete_member_rows(driver, postgres)
        started = time.perf_counter()
        for batch in batches:
            if not postgres:  # SQLAlchemy's sqlite3 connections leave BEGIN to the caller
                driver.execute("BEGIN IMMEDIATE")
            for table, (columns, rows) in zip(MEMBER_TABLES, batch, strict=True):
                _write_back(driver, postgres, table, columns, rows)
            driver.commit()
        return (high - low + 1) / (time.perf_counter() - started)
    finally:
        raw.close()


def _delete_member_rows(driver: Any, postgres: bool) -> None:
    # Without the per-row checks of the foreign keys that point at members (some unindexed):
    # no other row names these members.
    if postgres:
        driver.execute("TRUNCATE members CASCADE")
    else:
        driver.execute("PRAGMA foreign_keys=OFF")
    for table in reversed(MEMBER_TABLES):
        driver.execute(f"DELETE FROM {table} WHERE {MEMBER_TABLES[table][1]}")
    driver.commit()
    if not postgres:
        driver.execute("PRAGMA foreign_keys=ON")


def _saved_batches(
    driver: Any, ranges: list[tuple[int, int]], postgres: bool
) -> Iterator[list[tuple[list[str], Any]]]:
    """Each batch's rows of each table, as the driver reads them (COPY text on PostgreSQL)."""
    for low, high in ranges:
        batch = []
        for table, (where, _) in MEMBER_TABLES.items():
            condition = where.replace(":low", str(low)).replace(":high", str(high))
            query = f"SELECT * FROM {table} WHERE {condition} ORDER BY id"
            cursor = driver.cursor()
            if postgres:
                cursor.execute(f"{query} LIMIT 0")
                columns = [c.name for c in cursor.description]
                with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
                    rows: Any = b"".join(bytes(block) for block in copy)
            else:
                rows = cursor.execute(query).fetchall()
                columns = [c[0] for c in cursor.description]
            batch.append((columns, rows))
        yield batch


def _write_back(driver: Any, postgres: bool, table: str, columns: list[str], rows: Any) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    if postgres:
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            copy.write(rows)
        return
    marks = ", ".join("?" for _ in columns)
    driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def measure(kind: str, rows: int, content: bytes) -> None:
    with fresh_database(kind) as engine:
        create_stores()
        with Measured(engine) as first:
            report = run_import(ImportKind.members, content)
        assert report["created"] == rows, report
        with Measured(engine) as again:
            report = run_import(ImportKind.members, content)
        assert report["skipped"] == rows
        floor = driver_floor(engine)
        baseline = raw_insert_rate(rows)
        rate = rows / first.wall
        print(
            f"{kind:10s} import {rate:8,.0f} rows/s ({first.wall:.1f} s; {first.per_row(rows)}); "
            f"re-import (no-op) {rows / again.wall:8,.0f} rows/s ({again.per_row(rows)})\n"
            f"{'':10s} baselines: the same rows by the driver alone {floor:8,.0f} rows/s, "
            f"ratio {rate / floor:.2f}; raw insert into a bare table {baseline:8,.0f} rows/s, "
            f"ratio {rate / baseline:.2f}"
        )


def import_in_fresh_process(kind: str, path: str) -> tuple[float, float]:
    """(rows/s, peak RSS in MB) of this process importing the CSV file at `path`."""
    content = Path(path).read_bytes()
    with fresh_database(kind):
        create_stores()
        started = time.perf_counter()
        report = run_import(ImportKind.members, content)
        rate = report["created"] / (time.perf_counter() - started)
    return rate, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_rss(kinds: list[str], rows: int) -> None:
    """Each import in a process of its own, which never held the generated rows."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as file:
        file.write(make_csv(rows))
        file.flush()
        size = os.path.getsize(file.name)
        print(f"member import, {rows:,} CSV rows ({size / 1e6:.1f} MB): peak RSS")
        for kind in kinds:
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                rate, peak = pool.submit(import_in_fresh_process, kind, file.name).result()
            print(f"{kind:10s} import {rate:8,.0f} rows/s; peak RSS {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    parser.add_argument("--rss", action="store_true", help="peak RSS of a 1,000,000-row import")
    args = parser.parse_args()
    if args.rss:
        measure_rss(databases(args.db), args.rows or 1_000_000)
        return
    rows = args.rows or 100_000
    content = make_csv(rows)
    print(f"member import, {rows:,} CSV rows ({len(content) / 1e6:.1f} MB)")
    for kind in databases(args.db):
        measure(kind, rows, content)


if __name__ == "__main__":
    main()
