"""The order intake path in one process, without a server: statements per order and CPU per order
(`time.process_time()`, so other work on a shared machine does not count), optionally with a
cProfile breakdown of where the CPU goes.

    .venv/bin/python bench/order_path.py [--orders 300] [--db both] [--profile]

"http" drives the whole app (routing, dependencies, validation, the response) through
Starlette's TestClient, whose client side is counted too; "service" is the transaction alone:
idempotency, the order, earning, the response body and the commit.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable
from typing import Any

from _common import SECRET, database_url, databases, fresh_database
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from patron.apikeys import service as apikeys
from patron.apikeys.schemas import ApiKeyCreate
from patron.app import create_app
from patron.core import db, idempotency
from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.orders import presenters, service
from patron.orders.schemas import OrderCreate
from patron.stores import service as stores
from patron.stores.schemas import StoreCreate


def order(n: int, store_id: int, member_id: int | None, lines: int = 3) -> dict[str, Any]:
    items = [
        {
            "sku": f"P-{(n + i) % 40}",
            "name": "商品",
            "category_code": "FOOD",
            "quantity": 2,
            "unit_price": 1250,
            "discount": 0,
            "paid": 2500,
        }
        for i in range(lines)
    ]
    return {
        "external_id": f"PATH-{n}",
        "store_id": store_id,
        "channel": "pos",
        "member_id": member_id,
        "occurred_at": "2026-11-01T12:00:00+08:00",
        "items": items,
        "payments": [{"method": "wechat_pay", "amount": 2500 * lines}],
    }


def prepare() -> tuple[str, int, list[int]]:
    with db.transaction() as session:
        store = stores.create_store(
            session,
            SYSTEM,
            StoreCreate.model_validate({"code": "S1", "name": "店", "type": "owned", "city": "沪"}),
        )
        members = [
            registration.register_member(
                session,
                SYSTEM,
                MemberCreate.model_validate({"mobile": f"139{n:08d}", "name": "张伟"}),
            ).id
            for n in range(50)
        ]
        key = apikeys.create_key(session, SYSTEM, ApiKeyCreate(name="path", all_stores=True)).key
        # Warm the catalog: a product's first sale creates it, which is not the steady state.
        for n in range(40):
            data = OrderCreate.model_validate(order(10_000_000 + n, store.id, None))
            service.create_order(session, SYSTEM, data)
    return key, store.id, members


class Statements:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self)

    def __call__(self, *args: object) -> None:
        self.count += 1


def measure(label: str, runs: int, work: Callable[[int], None], profile: bool) -> float:
    for n in range(20):  # warm caches and compiled statements
        work(n)
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for n in range(20, 20 + runs):
        work(n)
    if profiler:
        profiler.disable()
    cpu_ms = (time.process_time() - started) * 1000 / runs
    print(f"  {label}: {cpu_ms:.2f} ms CPU per order")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
    return cpu_ms


def run(kind: str, args: argparse.Namespace) -> None:
    with fresh_database(kind) as engine:
        key, store_id, members = prepare()
        counter = Statements(engine)
        settings = Settings(
            env="test", database_url=database_url(engine), secret_key=SECRET, log_level="WARNING"
        )
        app = create_app(settings, session_factory=db.session_factory())
        client = TestClient(app)
        headers = {"Authorization": f"Bearer {key}"}
        offset = [0]

        def http(member: bool) -> Callable[[int], None]:
            def post(n: int) -> None:
                m = members[n % len(members)] if member else None
                number = offset[0] + n
                response = client.post(
                    "/api/v1/orders",
                    json=order(number, store_id, m),
                    headers={**headers, "Idempotency-Key": f"k-{number}"},
                )
                assert response.status_code == 201, response.text

            return post

        def direct(member: bool) -> Callable[[int], None]:
            def create(n: int) -> None:
                m = members[n % len(members)] if member else None
                number = offset[0] + n
                body = order(number, store_id, m)
                data = OrderCreate.model_validate(body)
                with db.transaction() as session:
                    idempotency.run_once(
                        session,
                        SYSTEM,
                        f"k-{number}",
                        "POST /orders",
                        data.model_dump(mode="json"),
                        lambda: (
                            201,
                            presenters.taken(
                                service.create_order(session, SYSTEM, data)
                            ).model_dump(mode="json"),
                        ),
                    )

            return create

        print(f"{kind}:")
        for name, member in (("member order with points", True), ("anonymous order", False)):
            http(member)(offset[0])  # the first request fills the caches
            counter.count = 0
            http(member)(offset[0] + 1)
            print(f"  {name}: {counter.count} statements over HTTP (warm)")
            offset[0] += 1_000_000
        for name, maker in (("http", http), ("service", direct)):
            offset[0] += 1_000_000
            profile = args.profile and name == "service"
            measure(f"{name}, member", args.orders, maker(True), profile)
            offset[0] += 1_000_000
            measure(f"{name}, anonymous", args.orders, maker(False), False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--db", default="both", choices=["both", "sqlite", "postgresql"])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    for kind in databases(args.db):
        run(kind, args)


if __name__ == "__main__":
    main()
