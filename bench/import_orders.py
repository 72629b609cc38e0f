"""Order history import from CSV: lines/s, against a raw insert baseline of the same run. The
import runs as the API, the console and the CLI run it (see import_members.py).

.venv/bin/python bench/import_orders.py [--lines 1000000] [--db postgresql|sqlite|both]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time
from datetime import timedelta

from _common import databases, fresh_database
from import_members import raw_insert_rate, run_import

from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.core.money import fen_to_yuan
from patron.demo import brand, people
from patron.demo.history import HistoryGenerator, StoreInfo
from patron.imports.models import ImportKind
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--db", default="postgresql", choices=["both", "sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in databases(args.db):
        with fresh_database(kind):
            with db.transaction() as session:
                brand.load(session)
                people.load(session, args.members, seed=4)
                store_list = [
                    StoreInfo(s.id, s.code, s.type, s.city, True)
                    for s in stores.list_stores(
                        session, SYSTEM, stores.StoreFilter(), None, 200
                    ).items
                ]
            mobiles = [
                row.mobile for row in people.generate(random.Random(4), args.members, [1], {})
            ]
            started = time.perf_counter()
            content, orders = make_csv(args.lines, store_list, mobiles)
            print(
                f"order import on {kind}: {args.lines:,} lines in {orders:,} orders ({len(content) / 1e6:.0f} MB CSV, made in {time.perf_counter() - started:.0f} s)"
            )
            started = time.perf_counter()
            report = run_import(ImportKind.orders, content)
            elapsed = time.perf_counter() - started
            assert report["lines"] == args.lines, {k: v for k, v in report.items() if k != "errors"}
            rate = args.lines / elapsed
            baseline = raw_insert_rate(200_000)
            print(
                f"{kind:10s} import {rate:8,.0f} lines/s ({elapsed:.0f} s, {report['created']:,} orders); raw insert baseline {baseline:8,.0f} rows/s; ratio {rate / baseline:.2f}"
            )


if __name__ == "__main__":
    main()
