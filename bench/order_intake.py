"""Order intake through the HTTP API (`patron serve`) with concurrent clients: orders/s, p50/p99
latency and the server workers' RSS, beside same-run baselines: pgbench (tpcb-like, 8 clients,
scale 10) for PostgreSQL, the raw sqlite3 rate of a minimal transaction (one insert, one update)
for SQLite.

    .venv/bin/python bench/order_intake.py [--orders 2000] [--clients 8] [--workers 2] [--db both]
                                           [--pgbench-seconds 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import psycopg
from _common import (
    POSTGRES_ADMIN_URL,
    SECRET,
    database_url,
    databases,
    describe_ms,
    fresh_database,
)
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, update
from sqlalchemy.engine import make_url

from patron.apikeys import service as apikeys
from patron.apikeys.schemas import ApiKeyCreate
from patron.core import db
from patron.core.actor import SYSTEM
from patron.demo import brand, people
from patron.members import registry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare() -> tuple[str, list[int], list[int]]:
    """Demo stores, 2,000 members and an all-store API key."""
    with db.transaction() as session:
        brand.load(session)
        people.load(session, 2000, seed=3)
        key = apikeys.create_key(session, SYSTEM, ApiKeyCreate(name="bench", all_stores=True)).key
    with db.transaction(read_only=True) as session:
        from patron.stores import service as stores

        open_stores = [
            s.id
            for s in stores.list_stores(session, SYSTEM, stores.StoreFilter(), None, 200).items
            if s.status == "open"
        ]
        member_ids = [m.id for m in registry.roster(session)]
    return key, open_stores, member_ids


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PATRON_DATABASE_URL": url,
        "PATRON_SECRET_KEY": SECRET,
        "PATRON_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("patron")),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("server did not start")


def worker_rss_mb(server: subprocess.Popen[bytes]) -> list[float]:
    """The resident memory of the server's processes: the workers (or the one process)."""
    return [_rss_kb(pid) / 1024 for pid in _server_pids(server)]


def _server_pids(server: subprocess.Popen[bytes]) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [int(pid) for pid in children] or [server.pid]


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def pgbench_tps(clients: int, seconds: int) -> float | None:
    """pgbench's tpcb-like TPS at scale 10 on a scratch database, dropped afterwards."""
    pgbench = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    if not Path(pgbench).exists():
        print("pgbench not found: no PostgreSQL baseline")
        return None
    name = f"patron_pgbench_{os.getpid()}"
    admin = make_url(POSTGRES_ADMIN_URL)
    target = admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        subprocess.run([pgbench, "-i", "-q", "-s", "10", target], check=True, capture_output=True)
        run = subprocess.run(
            [pgbench, "-c", str(clients), "-j", str(clients), "-T", str(seconds), target],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    match = re.search(r"tps = ([\d.]+)", run.stdout)
    return float(match.group(1)) if match else None


def run_clients(
    clients: int, total: int, work: Callable[[int, int], None]
) -> tuple[float, list[float]]:
    """`total` calls of work(client, n) spread over `clients` threads; (elapsed, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        mine = []
        for n in range(index, total, clients):
            started = time.perf_counter()
            work(index, n)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def order(n: int, store_id: int, member_id: int | None) -> dict[str, object]:
    """An order of 2 to 5 lines."""
    extra = [
        {"sku": f"C-{(n + k) % 40}", "name": "日用", "quantity": 1, "unit_price": 500, "paid": 500}
        for k in range(n % 4)
    ]
    return {
        "external_id": f"BENCH-{n}",
        "store_id": store_id,
        "channel": "pos",
        "member_id": member_id,
        "occurred_at": "2026-11-01T12:00:00+08:00",
        "items": [
            {
                "sku": f"B-{n % 50}",
                "name": "商品",
                "category_code": "FOOD",
                "quantity": 2,
                "unit_price": 1250,
                "discount": 0,
                "paid": 2500,
            },
            {
                "sku": f"B-{n % 7}",
                "name": "赠品",
                "category_code": "HOME",
                "quantity": 1,
                "unit_price": 990,
                "discount": 90,
                "paid": 900,
            },
            *extra,
        ],
        "payments": [{"method": "wechat_pay", "amount": 3400 + 500 * len(extra)}],
    }


def raw_transaction_rate(engine: Engine, clients: int, total: int) -> float:
    table = Table(
        "bench_tx", MetaData(), Column("id", Integer, primary_key=True), Column("note", String(50))
    )
    counters = Table(
        "bench_counter", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer)
    )
    table.create(engine)
    counters.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(counters), [{"id": i, "n": 0} for i in range(clients)])

    def work(client: int, n: int) -> None:
        with engine.begin() as conn:
            conn.execute(insert(table).values(note=f"tx-{n}"))
            conn.execute(update(counters).where(counters.c.id == client).values(n=counters.c.n + 1))

    elapsed, _ = run_clients(clients, total, work)
    return total / elapsed


def intake_rate(
    engine: Engine, args: argparse.Namespace
) -> tuple[float, list[float], list[float], float, float]:
    """(orders/s, latencies, worker RSS, server CPU ms and client CPU ms per order). The client
    is http.client with the bodies encoded before the clock starts: on two shared cores a heavier
    client (httpx took about 0.6 ms of CPU a request) takes CPU from the server it measures, which
    pgbench's C client does not do to PostgreSQL."""
    key, store_ids, member_ids = prepare()
    port = free_port()
    server = start_server(database_url(engine), port, args.workers)
    bodies = [
        json.dumps(order(n, store_ids[n % len(store_ids)], member_for(n, member_ids))).encode()
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
        server_cpu, client_cpu = server_cpu_seconds(server), time.process_time()
        elapsed, latencies = run_clients(args.clients, args.orders, post)
        server_cpu = server_cpu_seconds(server) - server_cpu
        client_cpu = time.process_time() - client_cpu
        rss = worker_rss_mb(server)
    finally:
        server.terminate()
        server.wait()
    per_order = 1000 / args.orders
    return args.orders / elapsed, latencies, rss, server_cpu * per_order, client_cpu * per_order


def member_for(n: int, member_ids: list[int]) -> int | None:
    return member_ids[n % len(member_ids)] if n % 10 < 7 else None


def server_cpu_seconds(server: subprocess.Popen[bytes]) -> float:
    """User and system CPU of the server's worker processes so far."""
    return sum(_cpu_seconds(pid) for pid in _server_pids(server))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    args = parser.parse_args()
    print(
        f"order intake over HTTP: {args.orders:,} orders, {args.clients} clients, "
        f"{args.workers} server workers (patron serve)"
    )
    for kind in databases(args.db):
        with fresh_database(kind) as engine:
            rate, latencies, rss, server_ms, client_ms = intake_rate(engine, args)
            print(f"{kind:10s} {rate:7,.0f} orders/s, {describe_ms(latencies)}")
            print(
                f"{'':10s} CPU per order: server workers {server_ms:.2f} ms, "
                f"client {client_ms:.2f} ms"
            )
            print(f"{'':10s} server RSS per worker: {', '.join(f'{mb:.0f} MB' for mb in rss)}")
            if kind == "sqlite":
                baseline = raw_transaction_rate(engine, args.clients, args.orders)
                name = "raw sqlite3 insert+update transaction"
            else:
                baseline = pgbench_tps(args.clients, args.pgbench_seconds) or 0.0
                name = f"pgbench tpcb-like, {args.clients} clients, scale 10"
            ratio = f"{rate / baseline:.3f}" if baseline else "n/a"
            print(f"{'':10s} {name}: {baseline:7,.0f} tx/s; ratio {ratio}")


if __name__ == "__main__":
    main()
