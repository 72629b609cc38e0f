"""Order intake with tiers switched on against the same intake with tiers off, in one run: the
harness of `bench/order_intake.py` (`patron serve`, concurrent http.client clients, 7 of 10
orders with a member) on a fresh database each time. Tiers on: the four-tier ladder (普通/银卡/
金卡/钻石, multipliers ×1/×1.2/×1.5/×2, 95折 and 9折 at the top), a `tier` earning rule active,
half of the 2,000 members above the base tier (30% silver, 15% gold, 5% diamond), and the orders
of gold and diamond members carrying their tier discount. Off and on alternate for `--rounds`.

    .venv/bin/python bench/tier_intake.py [--orders 2000] [--clients 8] [--workers 2]
                                          [--db both] [--rounds 2]
                                          [--in-process [--profile]]

`--in-process`: the same orders through `orders.service.create_order` in this process (one
transaction an order with its Idempotency-Key, no server), tiers off and on: statements per member
order (with and without a tier discount) and CPU per order (`time.process_time()`, which the
machine's other load does not count); `--profile` adds cProfile's cumulative list of tiers on.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import json
import pstats
import statistics
import time

from _common import database_url, databases, describe_ms, fresh_database
from order_intake import (
    free_port,
    member_for,
    order,
    prepare,
    run_clients,
    server_cpu_seconds,
    start_server,
)
from sqlalchemy import Engine, event

from patron import domains
from patron.core import db, idempotency
from patron.core.actor import SYSTEM
from patron.orders import presenters, service
from patron.orders.schemas import OrderCreate
from patron.points import rules
from patron.tiers import ladder, standing

LADDER = (
    # code, name, rank, entry, retention, discount %, points factor
    ("normal", "普通", 0, 0, 0, 0, 100),
    ("silver", "银卡", 1, 1000, 800, 0, 120),
    ("gold", "金卡", 2, 5000, 4000, 5, 150),
    ("diamond", "钻石", 3, 20000, 15000, 10, 200),
)
DISCOUNTED = {"gold", "diamond"}


def switch_tiers_on(member_ids: list[int]) -> dict[int, str]:
    """The ladder, the tier rule and the members' tiers (set by hand, with history); each
    member's tier code above the base."""
    held: dict[int, str] = {}
    with db.transaction() as session:
        for code, name, rank, entry, retention, discount, factor in LADDER:
            values = {
                "code": code,
                "name": name,
                "name_en": code.title(),
                "rank": rank,
                "entry_threshold": entry,
                "retention_threshold": retention,
                "discount_percent": discount,
                "points_factor": factor,
            }
            ladder.save_tier(session, SYSTEM, values)
        rules.save_rule(session, SYSTEM, {"name": "等级倍数", "effect": "tier", "amount": 100})
        for n, member_id in enumerate(member_ids):
            slot = n % 20
            code = (
                "diamond" if slot == 0 else "gold" if slot <= 3 else "silver" if slot <= 9 else ""
            )
            if code:
                standing.set_tier(session, SYSTEM, member_id, code, "bench")
                held[member_id] = code
    return held


def body(n: int, store_id: int, member_id: int | None, held: dict[int, str]) -> bytes:
    """The intake benchmark's order; a gold or diamond member's has its 0.90 line discount as
    the tier discount."""
    data = order(n, store_id, member_id)
    if member_id is not None and held.get(member_id) in DISCOUNTED:
        data["tier_discount_amount"] = 90
    return json.dumps(data).encode()


def measure(
    engine: Engine, args: argparse.Namespace, tiers: bool
) -> tuple[float, float, list[float]]:
    """(orders/s, server CPU ms per order, latencies) of one run on a fresh database."""
    key, store_ids, member_ids = prepare()
    held = switch_tiers_on(member_ids) if tiers else {}
    port = free_port()
    server = start_server(database_url(engine), port, args.workers)
    bodies = [
        body(n, store_ids[n % len(store_ids)], member_for(n, member_ids), held)
        for n in range(args.orders)
    ]
    connections = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(args.clients)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(client: int, n: int) -> None:
        connection = connections[client]
        connection.request(
            "POST", "/api/v1/orders", bodies[n], {**headers, "Idempotency-Key": f"bench-{n}"}
        )
        response = connection.getresponse()
        text = response.read()
        assert response.status == 201, text

    try:
        cpu = server_cpu_seconds(server)
        elapsed, latencies = run_clients(args.clients, args.orders, post)
        cpu = server_cpu_seconds(server) - cpu
    finally:
        server.terminate()
        server.wait()
    return args.orders / elapsed, cpu * 1000 / args.orders, latencies


def in_process(engine: Engine, args: argparse.Namespace, tiers: bool) -> tuple[float, float]:
    """(CPU ms per order, statements per member order) of the service path on a fresh
    database; prints the statements of a member order with a tier discount too."""
    _, store_ids, member_ids = prepare()
    held = switch_tiers_on(member_ids) if tiers else {}
    sent = [0]
    shown: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent[0] += 1
        shown.append(" ".join(statement.split())[:150])

    event.listen(engine, "before_cursor_execute", count)

    def create(n: int) -> None:
        body = json.loads(body_of(n))
        data = OrderCreate.model_validate(body)
        with db.transaction() as session:
            idempotency.run_once(
                session,
                SYSTEM,
                f"path-{n}",
                "POST /orders",
                data.model_dump(mode="json"),
                lambda: (
                    201,
                    presenters.taken(service.create_order(session, SYSTEM, data)).model_dump(
                        mode="json"
                    ),
                ),
            )

    def body_of(n: int) -> bytes:
        return body(n, store_ids[n % len(store_ids)], member_for(n, member_ids), held)

    for n in range(50):  # caches, compiled statements, the catalog's products
        create(n)
    plain = next(
        n
        for n in range(50, 100)
        if member_for(n, member_ids) is not None and b"tier_discount" not in body_of(n)
    )
    discounted = next((n for n in range(50, 200) if b"tier_discount" in body_of(n)), None)
    for label, n in (("member order", plain), ("member order with a tier discount", discounted)):
        if n is None:
            continue
        sent[0] = 0
        shown.clear()
        create(n)
        print(f"  tiers {'on ' if tiers else 'off'}: {label}: {sent[0]} statements")
        if args.profile:
            print("\n".join(f"    {line}" for line in shown))
    statements = sent[0]
    profiler = cProfile.Profile() if args.profile and tiers else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for n in range(200, 200 + args.orders):
        create(n)
    if profiler:
        profiler.disable()
    cpu_ms = (time.process_time() - started) * 1000 / args.orders
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
        print(out.getvalue())
    event.remove(engine, "before_cursor_execute", count)
    return cpu_ms, statements


def main_in_process(args: argparse.Namespace) -> None:
    domains.load()  # every hook on the order path, as the server has them
    for kind in databases(args.db):
        cpus: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for tiers in (False, True):
                with fresh_database(kind) as engine:
                    cpu, _ = in_process(engine, args, tiers)
                cpus[tiers].append(cpu)
                print(
                    f"{kind:10s} in process, tiers {'on ' if tiers else 'off'}: {cpu:.2f} ms CPU/order"
                )
        off, on = min(cpus[False]), min(cpus[True])
        print(
            f"{kind:10s} in process, best: off {off:.2f}, on {on:.2f} ms CPU/order (×{on / off:.3f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.in_process:
        main_in_process(args)
        return
    print(
        f"order intake, tiers off and on: {args.orders:,} orders, {args.clients} clients, "
        f"{args.workers} server workers, {args.rounds} rounds"
    )
    for kind in databases(args.db):
        rates: dict[bool, list[float]] = {False: [], True: []}
        cpus: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for tiers in (False, True):
                with fresh_database(kind) as engine:
                    rate, cpu, latencies = measure(engine, args, tiers)
                rates[tiers].append(rate)
                cpus[tiers].append(cpu)
                label = "on " if tiers else "off"
                print(
                    f"{kind:10s} tiers {label} {rate:7,.0f} orders/s, server CPU {cpu:.2f} ms"
                    f"/order, {describe_ms(latencies)}"
                )
                time.sleep(1)
        off, on = statistics.fmean(rates[False]), statistics.fmean(rates[True])
        cpu_off, cpu_on = statistics.fmean(cpus[False]), statistics.fmean(cpus[True])
        print(
            f"{kind:10s} mean: off {off:,.0f}, on {on:,.0f} orders/s; ratio on/off {on / off:.3f}"
            f"; server CPU per order off {cpu_off:.2f} ms, on {cpu_on:.2f} ms"
            f" (×{cpu_on / cpu_off:.3f})"
        )


if __name__ == "__main__":
    main()
