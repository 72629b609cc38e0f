"""The order intake path's statement budget, and the per-process caches that keep it: every
statement a request sends is a round trip on PostgreSQL, so a feature that adds one per line or
per order shows up here first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, func, select, update
from sqlalchemy.orm import Session

from patron.core import clock, ttlcache
from patron.core.actor import SYSTEM
from patron.points import policy as points_policy
from patron.points import rules as points_rules
from patron.points.models import PointsEntry, PointsLot
from tests.factories import (
    auth,
    issue_coupon,
    make_api_key,
    make_coupon_template,
    make_member,
    make_store,
    order_body,
)

# SQLite: key claim, order, lines, payments, audit, outbox (every event of the order in one
# statement: order.completed, the points it earned, coupons and stored value it spent), account,
# lot, entry, stored response. PostgreSQL writes the order with its lines, payments and audit entry in one
# statement, and the account with its lot and entry in another.
MEMBER_ORDER_BUDGET = {"sqlite": 10, "postgresql": 5}
ANONYMOUS_ORDER_BUDGET = {"sqlite": 7, "postgresql": 4}
REPLAY_BUDGET = 2  # the claim that finds the key taken, and the stored response
# A member order with one coupon adds the coupon's read before the order is written, and its
# conditional update with its history row and audit entry (one statement on PostgreSQL, three
# on SQLite).
COUPON_ORDER_BUDGET = {"sqlite": 14, "postgresql": 7}
# A member order paid by stored value adds, before the order is written, the look-up of its
# external id (a retry is order_exists, not asked to verify again), the member's key-share lock
# and the account's row lock; after it, the account's update and its spend entry. Paid by
# password, the hash is read once more before the lock (argon2 runs outside it).
STORED_VALUE_ORDER_BUDGET = {"sqlite": 16, "postgresql": 11}
# A member order paid in part with points adds, before the order is written, the policy's
# read, the look-up of its external id, the member's key-share lock, the account's row lock and
# the check for due lots; after it, the burn entry, the lots it draws from, the account's update,
# the allocation and the lot's update. The lines name their points in the same insert.
POINTS_ORDER_BUDGET = {"sqlite": 20, "postgresql": 15}
# With tiers on, a member order adds its growth: the tier row's upsert and the growth entry.
# A tier discount adds, before the order is written, the member's staff flag with their tier
# (one statement).
TIER_DISCOUNT_ORDER_BUDGET = {"sqlite": 13, "postgresql": 8}


class Statements:
    """The statements a request sends, without the savepoint each test request runs in."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            self.seen.append(statement.split("\n")[0][:100])


@pytest.fixture
def statements(connection: Connection) -> Iterator[Statements]:
    counter = Statements()
    event.listen(connection, "before_cursor_execute", counter)
    yield counter
    event.remove(connection, "before_cursor_execute", counter)


@pytest.fixture
def till(session: Session) -> dict[str, Any]:
    store = make_store(session)
    return {
        "store": store,
        "member": make_member(session, store),
        "headers": auth(make_api_key(session, [store])),
    }


def post(client: TestClient, till: dict[str, Any], body: dict[str, Any], key: str) -> Any:
    headers = {**till["headers"], "Idempotency-Key": key}
    return client.post("/api/v1/orders", json=body, headers=headers)


def five_lines(till: dict[str, Any], external_id: str, member: bool) -> dict[str, Any]:
    items = [
        {"sku": f"SKU-{n}", "name": "商品", "quantity": 1, "unit_price": 1000, "paid": 1000}
        for n in range(5)
    ]
    return order_body(
        till["store"],
        external_id,
        member_id=till["member"].id if member else None,
        items=items,
        payments=[{"method": "cash", "amount": 5000}],
    )


def test_statements_per_order(
    client: TestClient, connection: Connection, till: dict[str, Any], statements: Statements
) -> None:
    """Warm: the products exist, the key, policy and rules are cached, the account exists."""
    assert post(client, till, five_lines(till, "WARM", member=True), "warm").status_code == 201
    dialect = connection.dialect.name
    for external_id, member, budget in (
        ("M-1", True, MEMBER_ORDER_BUDGET[dialect]),
        ("A-1", False, ANONYMOUS_ORDER_BUDGET[dialect]),
    ):
        statements.seen.clear()
        response = post(client, till, five_lines(till, external_id, member), external_id)
        assert response.status_code == 201
        assert len(statements.seen) <= budget, "\n".join(statements.seen)
    statements.seen.clear()
    replay = post(client, till, five_lines(till, "M-1", member=True), "M-1")
    assert replay.status_code == 200
    assert len(statements.seen) <= REPLAY_BUDGET, "\n".join(statements.seen)


def test_statements_per_order_with_a_coupon(
    client: TestClient, session: Session, till: dict[str, Any], statements: Statements
) -> None:
    template = make_coupon_template(
        session,
        threshold=5000,
        amount=500,
        valid_days=None,
        valid_from="2026-01-01T00:00:00+08:00",
        valid_until="2030-12-31T23:59:59+08:00",
    )
    coupon = issue_coupon(session, template, till["member"])
    assert post(client, till, five_lines(till, "WARM", member=True), "warm").status_code == 201
    body = five_lines(till, "C-1", member=True)
    body["items"][0] |= {"discount": 500, "paid": 500}
    body["payments"] = [{"method": "cash", "amount": 4500}]
    body["coupons"] = [{"code": coupon.code, "amount": 500}]
    statements.seen.clear()
    response = post(client, till, body, "C-1")
    assert response.status_code == 201, response.json()
    budget = COUPON_ORDER_BUDGET[session.get_bind().dialect.name]
    assert len(statements.seen) <= budget, "\n".join(statements.seen)


def test_statements_per_order_paid_by_stored_value(
    client: TestClient, session: Session, till: dict[str, Any], statements: Statements
) -> None:
    from patron.stored_value import payments, recharges

    member_id = till["member"].id
    payments.set_password(session, SYSTEM, member_id, "246802")
    cash = recharges.Payment("cash", "")
    recharges.recharge(session, SYSTEM, member_id, till["store"].id, cash, amount=10000)
    assert post(client, till, five_lines(till, "WARM", member=True), "warm").status_code == 201
    body = five_lines(till, "SV-1", member=True)
    password = {"password": "246802"}
    body["payments"] = [{"method": "stored_value", "amount": 5000, "verification": password}]
    statements.seen.clear()
    response = post(client, till, body, "SV-1")
    assert response.status_code == 201, response.json()
    budget = STORED_VALUE_ORDER_BUDGET[session.get_bind().dialect.name]
    assert len(statements.seen) <= budget, "\n".join(statements.seen)


def test_statements_per_order_paid_with_points(
    client: TestClient, session: Session, till: dict[str, Any], statements: Statements
) -> None:
    earned = five_lines(till, "EARN", member=True)
    earned["items"][0] |= {"unit_price": 500000, "paid": 500000}
    earned["payments"] = [{"method": "cash", "amount": 504000}]
    assert post(client, till, earned, "earn").status_code == 201
    body = five_lines(till, "PT-1", member=True)
    body["payments"] = [{"method": "cash", "amount": 3000}, {"method": "points", "amount": 2000}]
    statements.seen.clear()
    response = post(client, till, body, "PT-1")
    assert response.status_code == 201, response.json()
    budget = POINTS_ORDER_BUDGET[session.get_bind().dialect.name]
    assert len(statements.seen) <= budget, "\n".join(statements.seen)


def test_member_order_earns_with_the_account_in_debt(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    """An account that owes points takes the locked path: the debt is paid first."""
    from patron.points.accounts import lock_accounts

    member_id = till["member"].id
    lock_accounts(session, [member_id])[member_id].debt = 30
    session.flush()
    response = post(client, till, five_lines(till, "DEBT-1", member=True), "debt")
    assert response.status_code == 201
    entry = session.scalars(select(PointsEntry).where(PointsEntry.member_id == member_id)).one()
    assert (entry.points, entry.debt_paid) == (50, 30)
    account = lock_accounts(session, [member_id])[member_id]
    assert (account.debt, account.available) == (0, 20)


def test_a_revoked_key_is_refused_at_once_in_this_process(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    from patron.apikeys import service as apikeys
    from patron.apikeys.models import ApiKey

    assert post(client, till, five_lines(till, "R-1", False), "r-1").status_code == 201
    key_id = session.scalars(select(ApiKey.id)).all()[-1]
    apikeys.revoke_key(session, SYSTEM, key_id)
    assert post(client, till, five_lines(till, "R-2", False), "r-2").status_code == 401


def test_a_revocation_elsewhere_takes_effect_within_the_ttl(
    client: TestClient, session: Session, till: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process revokes: this one's cached key lives until its TTL, not longer."""
    from patron.apikeys.models import ApiKey

    now = [1000.0]
    monkeypatch.setattr(ttlcache, "seconds", lambda: now[0])
    assert post(client, till, five_lines(till, "T-1", False), "t-1").status_code == 201
    # As another process would: a statement this process's sessions never see flushed.
    session.execute(update(ApiKey).values(revoked_at=clock.now()))
    now[0] += ttlcache.TTL_SECONDS / 2
    assert post(client, till, five_lines(till, "T-2", False), "t-2").status_code == 201
    now[0] += ttlcache.TTL_SECONDS
    assert post(client, till, five_lines(till, "T-3", False), "t-3").status_code == 401


def test_a_policy_or_rule_change_applies_to_the_next_order(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    member_id = till["member"].id

    def earned(external_id: str) -> PointsEntry:
        post(client, till, five_lines(till, external_id, member=True), external_id)
        query = select(PointsEntry).where(PointsEntry.member_id == member_id)
        return session.scalars(query.order_by(PointsEntry.id.desc())).first()  # type: ignore[return-value]

    assert earned("P-1").points == 50
    points_rules.save_rule(
        session,
        SYSTEM,
        {"name": "double", "effect": "multiply", "amount": 200, "conditions": {}},
    )
    assert earned("P-2").points == 100
    points_policy.update_policy(session, SYSTEM, {"expiry_policy": "never"})
    earned("P-3")  # the request's own session holds no policy: it reads the cache
    lot = session.scalars(select(PointsLot).order_by(PointsLot.id.desc())).first()
    assert lot is not None
    assert lot.expires_at is None


def test_a_refused_order_writes_none_of_its_rows(session: Session, till: dict[str, Any]) -> None:
    """The lines, payments and audit entry ride on the order's insert (on PostgreSQL in its one
    statement): an order refused there leaves none of them, even to a caller that goes on."""
    from patron.audit.models import AuditEntry
    from patron.orders import service
    from patron.orders.models import OrderLine, OrderPayment
    from patron.orders.schemas import OrderCreate

    def counts() -> list[int]:
        return [
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (OrderLine, OrderPayment, AuditEntry)
        ]

    body = OrderCreate.model_validate(five_lines(till, "TWICE", member=True))
    service.create_order(session, SYSTEM, body)
    before = counts()
    with pytest.raises(service.OrderExists):
        service.create_order(session, SYSTEM, body)
    assert counts() == before


def test_statements_per_order_with_a_tier_discount(
    client: TestClient, session: Session, till: dict[str, Any], statements: Statements
) -> None:
    from patron.tiers import ladder, standing

    base = {"name": "普通", "rank": 0}
    ladder.save_tier(session, SYSTEM, base | {"code": "normal"})
    gold = {"name": "金卡", "rank": 1, "entry_threshold": 5000, "discount_percent": 5}
    ladder.save_tier(session, SYSTEM, gold | {"code": "gold"})
    standing.set_tier(session, SYSTEM, till["member"].id, "gold", "budget")

    def discounted(external_id: str) -> dict[str, Any]:
        body = five_lines(till, external_id, member=True)
        body["items"][0] |= {"discount": 50, "paid": 950}
        body["payments"] = [{"method": "cash", "amount": 4950}]
        body["tier_discount_amount"] = 50
        return body

    # The warm-up fills the process caches a tier discount reads (the plans' own discounts).
    assert post(client, till, discounted("WARM"), "warm").status_code == 201
    body = discounted("TD-1")
    statements.seen.clear()
    response = post(client, till, body, "TD-1")
    assert response.status_code == 201, response.json()
    assert response.json()["tier_discount_amount"] == 50
    budget = TIER_DISCOUNT_ORDER_BUDGET[session.get_bind().dialect.name]
    assert len(statements.seen) <= budget, "\n".join(statements.seen)
