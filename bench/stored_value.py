"""Stored value over the HTTP API (`patron serve`) with concurrent clients, beside plain order
intake measured on the same server and database in the same run: recharges, and orders paid
from stored value verified by the member code or by the payment password. Prints requests/s,
p50/p99 latency, the server's CPU per request and each rate's ratio to plain order intake.

    .venv/bin/python bench/stored_value.py [--requests 2000] [--password-requests 200]
                                           [--clients 8] [--workers 2] [--db both]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

import pyotp
from _common import database_url, databases, describe_ms, fresh_database
from order_intake import free_port, order, prepare, run_clients, server_cpu_seconds, start_server
from sqlalchemy import Engine, select

from patron.core import db
from patron.core.actor import SYSTEM
from patron.members import codes
from patron.members.models import Member
from patron.stored_value import payments, recharges

PAYERS = 100  # members who pay by password (a member code pays once: every member pays by code)
LOADED = 400000  # fen each member holds before the run (¥4,000, under the ¥5,000 cap)
PASSWORD = "135790"
RECHARGE = 10000  # fen a measured recharge pays in


@dataclass(frozen=True)
class Figures:
    name: str
    rate: float
    latencies: list[float]
    server_ms: float  # CPU per request, the server's workers
    refused: dict[int, int]  # answers other than the expected status, by status


def load_payers(member_ids: list[int], store_id: int) -> dict[int, str]:
    """Every member's balance loaded and the first PAYERS' payment passwords set, in process;
    the members' code secrets."""
    with db.transaction() as session:
        for member_id in member_ids:
            if member_id in member_ids[:PAYERS]:
                payments.set_password(session, SYSTEM, member_id, PASSWORD)
            recharges.recharge(
                session,
                SYSTEM,
                member_id,
                store_id,
                recharges.Payment("wechat_pay", f"bench-load-{member_id}"),
                amount=LOADED,
            )
    with db.transaction(read_only=True) as session:
        rows = session.execute(
            select(Member.id, Member.code_secret).where(Member.id.in_(member_ids))
        )
        return {member_id: secret for member_id, secret in rows}


def paid_from_balance(n: int, store_id: int, member_id: int, verification: dict[str, str]) -> bytes:
    """Order `n` (2 to 5 lines, as the order intake bench's), paid from stored value."""
    body = order(n, store_id, member_id)
    total = sum(p["amount"] for p in body["payments"])  # type: ignore[attr-defined]
    body["external_id"] = f"SV-{n}"
    body["payments"] = [{"method": "stored_value", "amount": total, "verification": verification}]
    return json.dumps(body).encode()


def member_code(member_id: int, secret: str) -> str:
    """The code the member's app shows now (members/codes.py: id and an 8-digit TOTP)."""
    totp = pyotp.TOTP(secret, digits=codes.CODE_DIGITS, interval=codes.CODE_STEP_SECONDS)
    return f"{member_id:0{codes.CODE_ID_DIGITS}d}{totp.now()}"


def measure(
    name: str,
    port: int,
    server: subprocess.Popen[bytes],
    clients: int,
    requests: list[tuple[str, bytes, str]],
    status: int,
) -> Figures:
    """`requests` (path, body, idempotency key) sent by `clients` threads, each on its own
    keep-alive connection; answers other than `status` are counted (a 503 is the database
    staying busy past its timeout), and the rate counts every answer."""
    connections = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(clients)]
    refused: Counter[int] = Counter()

    def send(client: int, n: int) -> None:
        path, body, key = requests[n]
        connection = connections[client]
        connection.request("POST", path, body, {**HEADERS, "Idempotency-Key": key})
        response = connection.getresponse()
        text = response.read()
        if response.status != status:
            assert response.status == 503, (name, response.status, text)
            refused[response.status] += 1

    cpu = server_cpu_seconds(server)
    elapsed, latencies = run_clients(clients, len(requests), send)
    cpu = server_cpu_seconds(server) - cpu
    for connection in connections:
        connection.close()
    rate = len(requests) / elapsed
    return Figures(name, rate, latencies, cpu * 1000 / len(requests), dict(refused))


HEADERS: dict[str, str] = {"Content-Type": "application/json"}


def run(engine: Engine, args: argparse.Namespace) -> list[Figures]:
    key, store_ids, member_ids = prepare()
    HEADERS["Authorization"] = f"Bearer {key}"
    secrets = load_payers(member_ids, store_ids[0])
    port = free_port()
    server = start_server(database_url(engine), port, args.workers)
    n_requests = args.requests

    def store(n: int) -> int:
        return store_ids[n % len(store_ids)]

    def member(n: int) -> int:
        return member_ids[n % len(member_ids)]

    plain = [
        ("/api/v1/orders", json.dumps(order(n, store(n), member(n))).encode(), f"order-{n}")
        for n in range(n_requests)
    ]
    topping_up = [
        (
            f"/api/v1/members/{member(n)}/stored-value/recharges",
            json.dumps(
                {
                    "store_id": store(n),
                    "amount": RECHARGE,
                    "payment": {"method": "wechat_pay", "reference": f"bench-{n}"},
                }
            ).encode(),
            f"recharge-{n}",
        )
        for n in range(n_requests)
    ]
    by_password = [
        (
            "/api/v1/orders",
            paid_from_balance(n, store(n), member_ids[n % PAYERS], {"password": PASSWORD}),
            f"password-{n}",
        )
        for n in range(n_requests, n_requests + args.password_requests)
    ]
    results = []
    try:
        results.append(measure("order intake", port, server, args.clients, plain, 201))
        results.append(measure("recharge", port, server, args.clients, topping_up, 201))
        # Member codes last a minute or two and pay once: encoded just before their run, a
        # member each.
        by_code = [
            (
                "/api/v1/orders",
                paid_from_balance(
                    n,
                    store(n),
                    member(n),
                    {"member_code": member_code(member(n), secrets[member(n)])},
                ),
                f"code-{n}",
            )
            for n in range(2 * n_requests, 3 * n_requests)
        ]
        results.append(measure("spend, member code", port, server, args.clients, by_code, 201))
        results.append(measure("spend, password", port, server, args.clients, by_password, 201))
    finally:
        server.terminate()
        server.wait()
    return results


def report(kind: str, results: list[Figures]) -> None:
    baseline = results[0].rate
    for figures in results:
        print(
            f"{kind:10s} {figures.name:20s} {figures.rate:7,.0f} requests/s "
            f"(ratio {figures.rate / baseline:.2f}), {describe_ms(figures.latencies)}, "
            f"server CPU {figures.server_ms:.2f} ms a request"
            + "".join(f"; {count} answered {code}" for code, count in figures.refused.items())
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--password-requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    args = parser.parse_args()
    print(
        f"stored value over HTTP: {args.requests:,} orders, recharges and member-code spends, "
        f"{args.password_requests:,} password spends; {args.clients} clients, "
        f"{args.workers} server workers (patron serve)"
    )
    started = time.perf_counter()
    for kind in databases(args.db):
        with fresh_database(kind) as engine:
            report(kind, run(engine, args))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
