"""The checkout through the HTTP API (`patron serve`): quote latency, one client after another
(p50/p99) and with concurrent clients; then the commit rate with concurrent clients beside the
order intake rate of the same run (the same baskets, the same server, 70% of them members').
The quotes a commit run records are made after the intake run (whose orders lift members' tiers,
which would make them stale) and before its clock starts.

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
    found: dict[str, Any] = {}
    quotes: list[dict[str, Any]] = [{}] * args.orders
    try:
        single = []
        for n in range(args.quotes):
            started = time.perf_counter()
            server.post(0, "/checkout/quote", baskets[n])
            single.append(time.perf_counter() - started)
        found["quote, 1 client"] = single

        def intake_one(client: int, n: int) -> None:
            server.post(client, "/orders", orders[n], f"intake-{n}")

        # Intake first: its orders lift members' tiers, which would make the quotes stale.
        elapsed, latencies = intake.run_clients(args.clients, args.orders, intake_one)
        found["intake"], found["intake rate"] = latencies, args.orders / elapsed

        def quote(client: int, n: int) -> None:
            quotes[n] = json.loads(server.post(client, "/checkout/quote", baskets[n]))

        elapsed, latencies = intake.run_clients(args.clients, args.orders, quote)
        found[f"quote, {args.clients} clients"] = latencies
        found["quote rate"] = args.orders / elapsed
        commits = [commit_body(n, q) for n, q in enumerate(quotes)]

        def commit_one(client: int, n: int) -> None:
            server.post(client, "/checkout/commit", commits[n], f"commit-{n}")

        elapsed, latencies = intake.run_clients(args.clients, args.orders, commit_one)
        found["commit"], found["commit rate"] = latencies, args.orders / elapsed
    finally:
        server.stop()
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
        print(f"{kind:10s} quote, 1 client:      {describe_ms(found['quote, 1 client'])}")
        print(
            f"{'':10s} quote, {args.clients} clients:     "
            f"{describe_ms(found[f'quote, {args.clients} clients'])}, "
            f"{found['quote rate']:,.0f} quotes/s"
        )
        print(
            f"{'':10s} order intake:         {found['intake rate']:7,.0f} orders/s, "
            f"{describe_ms(found['intake'])}"
        )
        print(
            f"{'':10s} checkout commit:      {found['commit rate']:7,.0f} orders/s, "
            f"{describe_ms(found['commit'])}"
        )
        print(f"{'':10s} commit / intake: {found['commit rate'] / found['intake rate']:.3f}")


if __name__ == "__main__":
    main()
