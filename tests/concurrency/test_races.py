"""Races only show on PostgreSQL: each thread here has its own connection and commits for real."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import idempotency
from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.members import identities, registration
from patron.members.errors import IdentityTaken
from patron.members.models import IdentityType, Member
from patron.members.schemas import IdentityIn
from patron.orders import service as orders
from patron.orders.models import Order, OrderLine
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points import adjustments, burning
from patron.points import queries as points_queries
from tests.factories import make_member, make_store, order_body


def race(threads: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work` in `threads` threads released at the same instant; results or exceptions."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as exc:  # collected for the assertions
            results[n] = exc

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def test_one_idempotency_key_creates_one_order(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store = make_store(session)
    body = order_body(store, "RACE-1")
    data = OrderCreate.model_validate(body)

    def attempt(_: int) -> int:
        with factory.begin() as session:
            outcome = idempotency.run_once(
                session,
                SYSTEM,
                "same-key",
                "POST /orders",
                body,
                lambda: (201, {"id": orders.create_order(session, SYSTEM, data).id}),
            )
            return int(outcome.body["id"])

    results = race(8, attempt)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    with factory() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Order).where(Order.store_id == store.id)
            )
            == 1
        )


def test_concurrent_refunds_never_exceed_the_line(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store = make_store(session)
        order = orders.create_order(session, SYSTEM, OrderCreate.model_validate(order_body(store)))
        line = session.scalars(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
        ).all()[1]
        line_id, order_id = line.id, order.id
    request = RefundCreate.model_validate({"items": [{"line_id": line_id, "quantity": 1}]})

    def attempt(_: int) -> int:
        with factory.begin() as session:
            return orders.refund_order(session, SYSTEM, order_id, request).amount

    results = race(10, attempt)
    succeeded = [r for r in results if isinstance(r, int)]
    assert len(succeeded) == 3
    assert all(
        isinstance(r, PatronError) and r.code == "refund_exceeds_order"
        for r in results
        if not isinstance(r, int)
    )
    with Session(pg_engine) as session:
        refreshed = session.get(OrderLine, line_id)
        assert refreshed is not None
        assert (refreshed.refunded_quantity, refreshed.refunded_amount, sum(succeeded)) == (
            3,
            3000,
            3000,
        )


def test_twenty_concurrent_burns_never_overspend(pg_engine: Engine) -> None:
    from patron.members.schemas import MemberCreate

    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store = make_store(session)
        member = registration.register_member(
            session, SYSTEM, MemberCreate(mobile="13912340000", name="并发", store_id=store.id)
        )
        adjustments.request_adjustment(session, SYSTEM, member.id, 1000, "opening balance")
        member_id = member.id

    def attempt(n: int) -> int:
        with factory.begin() as session:
            return burning.burn(session, SYSTEM, member_id, 100, f"burn {n}").id

    results = race(20, attempt)
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, PatronError)]
    assert len(succeeded) == 10
    assert len(refused) == 10
    assert all(r.code == "insufficient_points" for r in refused)
    with factory() as session:
        balance = points_queries.balance(session, member_id)
        assert (balance.available, balance.pending, balance.debt) == (0, 0, 0)
        assert [m for m in points_queries.verify(session) if m.member_id == member_id] == []


def test_concurrent_burns_on_one_order_keep_to_the_policy_share(pg_engine: Engine) -> None:
    from datetime import timedelta

    from patron.core import clock
    from patron.members.schemas import MemberCreate

    factory = sessionmaker(pg_engine, expire_on_commit=False)
    at = (clock.now() - timedelta(hours=1)).isoformat()
    with factory.begin() as session:
        store = make_store(session)
        member = registration.register_member(
            session, SYSTEM, MemberCreate(mobile="13912340001", name="并发", store_id=store.id)
        )
        for _ in range(2):  # enough points for both burns: only the order's share limits them
            adjustments.request_adjustment(session, SYSTEM, member.id, 4000, "opening balance")
        line = {"sku": "S", "name": "s", "quantity": 1, "unit_price": 10000, "paid": 10000}
        body = order_body(
            store,
            items=[line],
            payments=[{"method": "cash", "amount": 10000}],
            member_id=member.id,
            occurred_at=at,
        )
        order_id = orders.create_order(session, SYSTEM, OrderCreate.model_validate(body)).id
        member_id = member.id

    def attempt(n: int) -> int:  # ¥100 order: points may pay ¥50, that is 5,000 points
        with factory.begin() as session:
            return burning.burn(session, SYSTEM, member_id, 3000, "抵现", order_id=order_id).id

    results = race(2, attempt)
    assert len([r for r in results if isinstance(r, int)]) == 1
    assert [r.code for r in results if isinstance(r, PatronError)] == ["validation_error"]


def test_two_sign_outs_of_one_token_at_once_both_succeed(pg_engine: Engine) -> None:
    from patron.core.actor import Role
    from patron.core.settings import Settings
    from patron.staff import service as staff
    from tests.conftest import TEST_SECRET
    from tests.factories import make_staff

    settings = Settings(env="test", database_url="sqlite://", secret_key=TEST_SECRET)
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        token = staff.issue_token(make_staff(session, Role.cashier), settings).token

    def attempt(_: int) -> str:
        with factory.begin() as session:
            staff.sign_out(session, settings, token)
        return "ok"

    assert race(2, attempt) == ["ok", "ok"]
    with factory() as session:
        assert staff.actor_for_token(session, settings, token) is None


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (
            "/api/v1/stores",
            {"code": "RACE1", "name": "并发店", "type": "owned", "city": "上海"},
            "store_code_exists",
        ),
        (
            "/api/v1/staff",
            {
                "username": "racer",
                "password": "Passw0rd!",
                "role": "hq_marketing",
                "all_stores": True,
            },
            "username_taken",
        ),
        ("/api/v1/categories", {"code": "RACE", "name": "并发"}, "code_taken"),
        ("/api/v1/products", {"sku": "RACE-SKU", "name": "并发", "list_price": 100}, "code_taken"),
    ],
)
def test_concurrent_creates_of_one_code_make_one_and_refuse_the_rest(
    pg_engine: Engine, tmp_path: Path, path: str, body: dict[str, object], code: str
) -> None:
    from fastapi.testclient import TestClient

    from patron.app import create_app
    from patron.core.settings import Settings
    from tests.conftest import TEST_SECRET
    from tests.factories import make_staff, staff_headers

    settings = Settings(
        env="test", database_url="sqlite://", secret_key=TEST_SECRET, data_dir=tmp_path
    )
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        headers = staff_headers(make_staff(session), settings)

    app = create_app(settings, session_factory=factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        results = race(8, lambda _: client.post(path, json=body, headers=headers))

    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 7, statuses
    assert {r.json()["code"] for r in results if r.status_code == 409} == {code}


def test_one_card_added_to_many_members_at_once_goes_to_one(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store = make_store(session)
        members = [make_member(session, store, mobile=f"+86139000{n:05d}") for n in range(10)]

    def attempt(n: int) -> int:
        with factory.begin() as session:
            member = session.get(Member, members[n].id)
            assert member is not None
            card = IdentityIn(type=IdentityType.card_no, value="8800001")
            return identities.add_identity(session, SYSTEM, member, card).member_id

    results = race(10, attempt)
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    losers = [r for r in results if not isinstance(r, int)]
    assert all(isinstance(r, IdentityTaken) for r in losers), losers
    assert {r.extra["member_id"] for r in losers} == set(winners)
