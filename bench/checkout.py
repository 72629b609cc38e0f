"""The checkout through the HTTP API (`patron serve`): quote latency, one client after another
(p50/p99) and with concurrent clients; then the commit rate with concurrent clients beside the
order intake rate of the same run (the same baskets, the same server, 70% of them members'),
in rounds (intake, quotes, commits) so that both rates see the machine's load alike; a round's
quotes follow its intake (whose orders may lift members' tiers, which makes quotes stale). Server
CPU per request (the workers' user + system time) is printed beside each: it says more than
latency on a shared machine. A few quotes per worker go first, unmeasured (the steady state).

    .venv/bin/python bench/checkout.py [--orders 2000] [--quotes 500] [--clients 8]
                                       [--workers 2] [--db both] [--tenders]

--tenders: the members' baskets pay 100 points (each member is given points first) and take the
auto coupon choice, so a commit also burns points and looks at coupons.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from collections.abc import Callable
from typing import Any

import order_intake as intake
from _common import database_url, databases, describe_ms, fresh_database
from sqlalchemy import Engine

from patron.core import db
from patron.core.actor import SYSTEM
from patron.points import grants


class Server:
    """A `patron serve` over the database, with one keep-alive connection per client."""

    def __init__(self, engine: Engine, args: argparse.Namespace) -> None:
        self.key, self.store_ids, self.member_ids = intake.prepare()
        if args.tenders:
            with db.transaction() as session:
                for member_id in self.member_ids:
                    grants.grant_points(
                        session,
                        SYSTEM,
                        member_id,
                        100_000,
                        reason="bench",
                        store_id=None,
                        source_ref="bench",
                    )
        self.port = intake.free_port()
        self.process = intake.start_server(database_url(engine), self.port, args.workers)
        self.connections = [
            http.client.HTTPConnection("127.0.0.1", self.port) for _ in range(args.clients)
        ]
        self.headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}

    def post(self, client: int, path: str, body: bytes, key: str | None = None) -> Any:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        connection = self.connections[client]
        connection.request("POST", f"/api/v1{path}", body, headers)
        response = connection.getresponse()
        text = response.read()
        assert response.status == 201, text
        return text

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def basket(n: int, store_id: int, member_id: int | None, tenders: bool) -> dict[str, object]:
    """The lines of intake's order `n`, as a till would ask for a quote."""
    order = intake.order(n, store_id, member_id)
    lines = [
        {k: item[k] for k in ("sku", "name", "quantity", "unit_price") if k in item}
        | ({"category_code": item["category_code"]} if "category_code" in item else {})
        for item in order["items"]  # type: ignore[attr-defined]
    ]
    body: dict[str, object] = {
        "store_id": store_id,
        "channel": "pos",
        "member_id": member_id,
        "lines": lines,
    }
    if tenders and member_id is not None:
        body |= {"points": 100, "coupon_codes": "auto"}
    return body


def commit_body(n: int, quote: dict[str, Any]) -> bytes:
    due = quote["amount_due"]
    return json.dumps(
        {
            "quote_id": quote["quote_id"],
            "external_id": f"CHECKOUT-{n}",
            "payments": [{"method": "wechat_pay", "amount": due}] if due else [],
        }
    ).encode()


ROUNDS = 4
WARM_UP = 10  # quotes per server worker, not measured


def run_range(
    clients: int, numbers: range, work: Callable[[int, int], None]
) -> tuple[float, list[float]]:
    """work(client, n) for each n of `numbers`, spread over `clients` threads."""
    return intake.run_clients(clients, len(numbers), lambda c, i: work(c, numbers[i]))


def measure(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(engine, args)
    stores, members = server.store_ids, server.member_ids
    orders = [
        json.dumps(intake.order(n, stores[n % len(stores)], intake.member_for(n, members))).encode()
        for n in range(args.orders)
    ]
    baskets = [
        json.dumps(
            basket(n, stores[n % len(stores)], intake.member_for(n, members), args.tenders)
        ).encode()
        for n in range(args.orders)
    ]
    found: dict[str, Any] = {"intake": [], "commit": [], "quote, many": []}
    spent = {"intake": 0.0, "commit": 0.0, "quote, many": 0.0}
    cpu = {"intake": 0.0, "commit": 0.0}
    quotes: list[dict[str, Any]] = [{}] * args.orders
    commits: list[bytes] = [b""] * args.orders

    def intake_one(client: int, n: int) -> None:
        server.post(client, "/orders", orders[n], f"intake-{n}")

    def quote(client: int, n: int) -> None:
        quotes[n] = json.loads(server.post(client, "/checkout/quote", baskets[n]))
        commits[n] = commit_body(n, quotes[n])

    def commit_one(client: int, n: int) -> None:
        server.post(client, "/checkout/commit", commits[n], f"commit-{n}")

    def timed(name: str, work: Callable[[int, int], None], chunk: range) -> None:
        before = intake.server_cpu_seconds(server.process)
        elapsed, latencies = run_range(args.clients, chunk, work)
        if name in cpu:
            cpu[name] += intake.server_cpu_seconds(server.process) - before
        spent[name] += elapsed
        found[name] += latencies

    try:
        # Each worker's first requests compile statements and fill caches: not the steady state.
        for n in range(WARM_UP * args.workers):
            server.post(n % args.clients, "/checkout/quote", baskets[-1 - n])
        single = []
        before = intake.server_cpu_seconds(server.process)
        for n in range(args.quotes):
            started = time.perf_counter()
            server.post(0, "/checkout/quote", baskets[n])
            single.append(time.perf_counter() - started)
        found["quote, 1 client"] = single
        found["quote cpu"] = (intake.server_cpu_seconds(server.process) - before) * 1000
        found["quote cpu"] /= args.quotes
        # Rounds of intake, then quotes, then their commits: the machine's load moves, and both
        # rates see it alike. Quotes follow intake: its orders may lift members' tiers.
        step = -(-args.orders // ROUNDS)
        for first in range(0, args.orders, step):
            chunk = range(first, min(first + step, args.orders))
            timed("intake", lambda c, n: intake_one(c, n), chunk)
            timed("quote, many", quote, chunk)
            timed("commit", commit_one, chunk)
    finally:
        server.stop()
    for name, seconds in spent.items():
        found[f"{name} rate"] = args.orders / seconds
    for name, seconds in cpu.items():
        found[f"{name} cpu"] = seconds * 1000 / args.orders
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--quotes", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    parser.add_argument("--tenders", action="store_true")
    args = parser.parse_args()
    print(
        f"checkout over HTTP: {args.orders:,} baskets, {args.clients} clients, "
        f"{args.workers} server workers (patron serve)"
        + (", members pay 100 points and take the auto coupon" if args.tenders else "")
    )
    for kind in databases(args.db):
        with fresh_database(kind) as engine:
            found = measure(engine, args)
        print(
            f"{kind:10s} quote, 1 client:      {describe_ms(found['quote, 1 client'])}, "
            f"server CPU {found['quote cpu']:.2f} ms/quote"
        )
        print(
            f"{'':10s} quote, {args.clients} clients:     "
            f"{describe_ms(found['quote, many'])}, {found['quote, many rate']:,.0f} quotes/s"
        )
        for name, label in (("intake", "order intake:   "), ("commit", "checkout commit:")):
            print(
                f"{'':10s} {label}      {found[f'{name} rate']:7,.0f} orders/s, "
                f"{describe_ms(found[name])}, server CPU {found[f'{name} cpu']:.2f} ms/order"
            )
        ratio = found["commit rate"] / found["intake rate"]
        by_cpu = found["intake cpu"] / found["commit cpu"]
        print(f"{'':10s} commit / intake: {ratio:.3f} by rate, {by_cpu:.3f} by server CPU")


if __name__ == "__main__":
    main()
