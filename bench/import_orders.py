"""Order history import from CSV: lines/s, against a raw insert baseline of the same run. The
import runs as the API, the console and the CLI run it (see import_members.py), in a fresh
process of its own: its peak RSS is the import's (the file held as an upload holds it, the
parsing, the batches), not the making of the CSV. Beside the wall time it prints the CPU the
import took in that process and, on PostgreSQL on this host, in the database's backends: on a
shared machine those say what the import costs when wall times do not.

.venv/bin/python bench/import_orders.py [--lines 1000000] [--db postgresql|sqlite|both]
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import SECRET, database_url, databases, fresh_database
from import_members import raw_insert_rate, run_import
from sqlalchemy import select, text

from patron.core import clock, crypto, db
from patron.core.actor import SYSTEM
from patron.core.money import fen_to_yuan
from patron.demo import brand, people
from patron.demo.history import HistoryGenerator, StoreInfo
from patron.imports.models import ImportKind
from patron.members.models import Member
from patron.members.registry import RosterEntry
from patron.stores import service as stores

HEADER = [
    "门店编码",
    "订单号",
    "下单时间",
    "会员手机号",
    "商品编码",
    "商品名称",
    "品类编码",
    "数量",
    "单价",
    "优惠",
    "实付",
    "支付方式",
]


def make_csv(lines: int, store_list: list[StoreInfo], mobiles: list[str]) -> tuple[bytes, int]:
    rng = random.Random(9)
    now = clock.now()
    generator = HistoryGenerator(rng, store_list, now)
    roster = [
        RosterEntry(n, rng.choice(store_list).id, "store", now - timedelta(days=900))
        for n in range(len(mobiles))
    ]
    codes = {s.id: s.code for s in store_list}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    written = orders = 0
    while written < lines:
        for order in generator.member_orders(roster, {s.id: s for s in store_list}):
            mobile = (
                mobiles[order.member_id].removeprefix("+86")
                if order.member_id is not None and rng.random() < 0.7
                else ""
            )
            orders += 1
            for line in order.lines:
                writer.writerow(
                    [
                        codes[order.store_id],
                        f"{order.external_id}-{orders}",
                        order.occurred_at.astimezone(clock.business_tz()).strftime(
                            "%Y-%m-%d %H:%M:%S"
                        ),
                        mobile,
                        line.sku,
                        line.name,
                        line.category_code,
                        line.quantity,
                        fen_to_yuan(line.unit_price),
                        fen_to_yuan(line.discount),
                        fen_to_yuan(line.paid),
                        line.payment_method,
                    ]
                )
                written += 1
                if written == lines:  # the last order may lose lines: exactly `lines` in all
                    return buffer.getvalue().encode(), orders
    return buffer.getvalue().encode(), orders


def import_in_child(url: str, path: str, secret: str, results: Any) -> None:
    """The import of the file at `path` into the database at `url`, in this fresh process:
    its report's counts, wall and CPU seconds, RSS (peak once the file was read; peak), and the CPU seconds of the PostgreSQL
    backends it used (None on SQLite, or when their /proc entries cannot be read)."""
    crypto.configure(secret)  # the parent's: a spawned process made its own
    db.configure(db.make_engine(url))
    started_at = clock.now()
    content = Path(path).read_bytes()
    loaded_mb = peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    report = run_import(ImportKind.orders, content)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = peak_rss_mb()
    counts = {k: v for k, v in report.items() if k != "errors"} | {"errors": len(report["errors"])}
    results.put((counts, wall, cpu, (loaded_mb, peak_mb), backend_cpu(started_at)))


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, not getrusage's ru_maxrss, which Linux carries over
    from the parent a spawned process was forked from."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def backend_cpu(since: datetime) -> float | None:
    """CPU seconds of this database's PostgreSQL backends started since `since` (this
    process's), read from /proc: PostgreSQL on this host only."""
    engine = db.get_engine()
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.scalars(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_start >= :since"
            ),
            {"since": since},
        ).all()
    ticks = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except OSError:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def timed_import(url: str, content: bytes) -> tuple[dict[str, Any], float, float, Any, Any]:
    with tempfile.NamedTemporaryFile(suffix=".csv") as file:
        file.write(content)
        file.flush()
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        child = context.Process(target=import_in_child, args=(url, file.name, SECRET, results))
        child.start()
        figures = results.get()
        child.join()
    return figures  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--db", default="postgresql", choices=["both", "sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in databases(args.db):
        with fresh_database(kind) as engine:
            with db.transaction() as session:
                brand.load(session)
                people.load(session, args.members, seed=4)
                store_list = [
                    StoreInfo(s.id, s.code, s.type, s.city, True)
                    for s in stores.list_stores(
                        session, SYSTEM, stores.StoreFilter(), None, 200
                    ).items
                ]
                # the members' own mobiles: most member orders find their member
                mobiles = [m for m in session.scalars(select(Member.mobile)) if m]
            started = time.perf_counter()
            content, orders = make_csv(args.lines, store_list, mobiles)
            print(
                f"order import on {kind}: {args.lines:,} lines in {orders:,} orders ({len(content) / 1e6:.0f} MB CSV, made in {time.perf_counter() - started:.0f} s)"
            )
            report, elapsed, cpu, (loaded_mb, peak_mb), backends = timed_import(
                database_url(engine), content
            )
            assert report["lines"] == args.lines, report
            rate = args.lines / elapsed
            baseline = raw_insert_rate(200_000)
            database = "" if backends is None else f", PostgreSQL backends {backends:.1f} s"
            print(
                f"{kind:10s} import {rate:8,.0f} lines/s ({elapsed:.1f} s, {report['created']:,} orders, {report['errors']:,} row errors); raw insert baseline {baseline:8,.0f} rows/s; ratio {rate / baseline:.2f}\n"
                f"{'':10s} CPU: import process {cpu:.1f} s ({cpu / args.lines * 1e6:.0f} µs a line){database}; peak RSS of the import process {peak_mb:,.0f} MB ({loaded_mb:,.0f} MB with the file read, before the import)"
            )


if __name__ == "__main__":
    main()
