from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.catalog.models import Product
from patron.core.actor import Role
from patron.core.events import Event, OutboxEvent
from patron.core.idempotency import IdempotencyRecord
from patron.core.settings import Settings
from patron.orders.events import ORDER_COMPLETED, ORDER_REFUNDED, OrderCompleted, OrderRefunded
from patron.orders.models import Order, OrderLine
from tests.factories import (
    auth,
    make_api_key,
    make_member,
    make_staff,
    make_store,
    order_body,
    staff_headers,
)


@pytest.fixture
def till(session: Session) -> dict[str, Any]:
    store = make_store(session)
    return {"store": store, "headers": auth(make_api_key(session, [store]))}


def post_order(client: TestClient, headers: dict[str, str], body: dict[str, Any], key: str) -> Any:
    return client.post("/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": key})


def test_order_intake_and_replay(client: TestClient, till: dict[str, Any]) -> None:
    body = order_body(till["store"], "POS-1")
    first = post_order(client, till["headers"], body, "k-1")
    assert first.status_code == 201
    order = first.json()
    assert order["total"] == 12000
    assert [i["id"] for i in order["items"]]
    assert order["refundable_amount"] == 12000
    replay = post_order(client, till["headers"], body, "k-1")
    assert replay.status_code == 200
    assert replay.json() == order


def test_keys_are_scoped_by_the_path_under_the_api_prefix(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    """Stored scopes never change, so that a retry of a request made before an upgrade replays."""
    post_order(client, till["headers"], order_body(till["store"], "POS-1"), "k-1")
    assert session.scalars(select(IdempotencyRecord.scope)).all() == ["POST /orders"]


def test_same_key_other_body_is_a_conflict(client: TestClient, till: dict[str, Any]) -> None:
    post_order(client, till["headers"], order_body(till["store"], "POS-1"), "k-1")
    other = post_order(client, till["headers"], order_body(till["store"], "POS-2"), "k-1")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"


def test_duplicate_external_id_under_another_key(client: TestClient, till: dict[str, Any]) -> None:
    first = post_order(client, till["headers"], order_body(till["store"], "POS-1"), "k-1").json()
    again = post_order(client, till["headers"], order_body(till["store"], "POS-1"), "k-2")
    assert again.status_code == 409
    assert again.json()["code"] == "order_exists"
    assert again.json()["order_id"] == first["id"]


def test_missing_idempotency_key_is_refused(client: TestClient, till: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/orders", json=order_body(till["store"]), headers=till["headers"]
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def _line(**changes: Any) -> dict[str, Any]:
    line = {"sku": "S", "name": "n", "quantity": 2, "unit_price": 500, "discount": 0, "paid": 1000}
    return {**line, **changes}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        (
            {"items": [_line(paid=999)], "payments": [{"method": "cash", "amount": 999}]},
            "items.0.paid",
            "paid_mismatch",
        ),
        ({"items": [_line(discount=1001, paid=-1)]}, "items.0.paid", "too_small"),
        ({"items": [_line(quantity=0, paid=0)]}, "items.0.quantity", "too_small"),
        (
            {"items": [_line()], "payments": [{"method": "cash", "amount": 900}]},
            "payments",
            "payments_mismatch",
        ),
        (
            {"items": [_line()], "payments": [{"method": "cash", "amount": 0}]},
            "payments.0.amount",
            "too_small",
        ),
        ({"items": []}, "items", "too_short"),
        ({"occurred_at": "2999-01-01T00:00:00+08:00"}, "occurred_at", "in_future"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "occurred_at", "not_a_datetime"),
        ({"occurred_at": "0001-01-01T00:00:00+08:00"}, "occurred_at", "out_of_range"),
        ({"items": [_line(unit_price=0, paid=0)], "payments": []}, "items", "order_total_zero"),
        ({"store_id": 999999}, "store_id", "unknown_store"),
        ({"member_id": 999999}, "member_id", "unknown_member"),
        ({"channel": "fax"}, "channel", "not_a_choice"),
        ({"external_id": "x" * 65}, "external_id", "too_long"),
        ({"surprise": 1}, "surprise", "unknown_field"),
    ],
)
def test_every_rule_rejects_with_a_stable_code_and_writes_nothing(
    client: TestClient,
    session: Session,
    till: dict[str, Any],
    changes: dict[str, Any],
    field: str,
    code: str,
) -> None:
    body = order_body(till["store"], **changes)
    if "items" in changes and "payments" not in changes:
        body["payments"] = [{"method": "cash", "amount": 1000}]
    response = post_order(client, till["headers"], body, "k-bad")
    assert response.status_code == 422, response.json()
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == (field, code)
    assert error["message"]
    assert session.scalar(select(OutboxEvent.id)) is None
    assert session.scalar(select(Product.id)) is None
    retry = post_order(client, till["headers"], order_body(till["store"]), "k-bad")
    assert retry.status_code == 201, "a rejected request must not burn its idempotency key"


def test_a_closed_store_takes_no_orders(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session, status="closed")
    headers = staff_headers(make_staff(session), settings)
    response = post_order(client, headers, order_body(store), "k")
    assert response.json()["errors"][0]["field"] == "store_id"


def test_unknown_sku_creates_the_product_and_category(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    post_order(client, till["headers"], order_body(till["store"]), "k-1")
    product = session.scalar(select(Product).where(Product.sku == "SKU-1"))
    assert product is not None
    assert product.name == "洗发水"
    categories = {
        c["code"] for c in client.get("/api/v1/categories", headers=till["headers"]).json()["items"]
    }
    assert categories == {"CARE", "HOME"}


def test_lines_carry_their_orders_member_and_time(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    """Lines of new products (their own insert) and of known ones (the order's statement), of an
    order with a member and of one without."""
    member = make_member(session, till["store"])
    body = order_body(till["store"], member_id=member.id)
    first = post_order(client, till["headers"], body, "k-1").json()
    second = post_order(client, till["headers"], order_body(till["store"]), "k-2").json()
    third = post_order(
        client,
        till["headers"],
        order_body(till["store"], member_id=member.id, occurred_at="2026-02-01T09:30:00+08:00"),
        "k-3",
    ).json()
    for order_id in (first["id"], second["id"], third["id"]):
        order = session.get(Order, order_id)
        assert order is not None
        lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)).all()
        assert lines
        assert {(ln.member_id, ln.occurred_at) for ln in lines} == {
            (order.member_id, order.occurred_at)
        }


def test_orders_without_member_are_kept(client: TestClient, till: dict[str, Any]) -> None:
    order = post_order(client, till["headers"], order_body(till["store"]), "k").json()
    assert order["member_id"] is None


def refund(
    client: TestClient, headers: dict[str, str], order_id: int, body: dict[str, Any], key: str
) -> Any:
    return client.post(
        f"/api/v1/orders/{order_id}/refunds", json=body, headers={**headers, "Idempotency-Key": key}
    )


def test_partial_then_full_refund(client: TestClient, till: dict[str, Any]) -> None:
    order = post_order(client, till["headers"], order_body(till["store"]), "k").json()
    first_line, second_line = order["items"]
    partial = refund(
        client,
        till["headers"],
        order["id"],
        {"items": [{"line_id": first_line["id"], "quantity": 1}]},
        "r-1",
    )
    assert partial.status_code == 201
    assert partial.json()["amount"] == 4500
    assert (
        refund(
            client,
            till["headers"],
            order["id"],
            {"items": [{"line_id": first_line["id"], "quantity": 1}]},
            "r-1",
        ).status_code
        == 200
    )
    after = client.get(f"/api/v1/orders/{order['id']}", headers=till["headers"]).json()
    assert after["status"] == "partially_refunded"
    assert after["refunded_amount"] == 4500
    assert after["refundable_amount"] == 7500
    rest = refund(client, till["headers"], order["id"], {"all": True}, "r-2").json()
    assert rest["amount"] == 7500
    assert {(ln["line_id"], ln["quantity"]) for ln in rest["lines"]} == {
        (first_line["id"], 1),
        (second_line["id"], 3),
    }
    final = client.get(f"/api/v1/orders/{order['id']}", headers=till["headers"]).json()
    assert final["status"] == "refunded"
    assert final["refundable_amount"] == 0
    assert len(final["refunds"]) == 2


def test_over_refund_is_rejected(client: TestClient, till: dict[str, Any]) -> None:
    order = post_order(client, till["headers"], order_body(till["store"]), "k").json()
    line = order["items"][1]
    too_much = refund(
        client,
        till["headers"],
        order["id"],
        {"items": [{"line_id": line["id"], "quantity": 4}]},
        "r-1",
    )
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "refund_exceeds_order"
    refund(client, till["headers"], order["id"], {"all": True}, "r-2")
    nothing_left = refund(client, till["headers"], order["id"], {"all": True}, "r-3")
    assert nothing_left.json()["code"] == "refund_exceeds_order"
    foreign = refund(
        client, till["headers"], order["id"], {"items": [{"line_id": 999999, "quantity": 1}]}, "r-4"
    )
    assert foreign.status_code == 422


def test_refund_amounts_are_cumulative_shares(client: TestClient, till: dict[str, Any]) -> None:
    items = [
        {
            "sku": "ODD",
            "name": "散装",
            "quantity": 3,
            "unit_price": 334,
            "discount": 2,
            "paid": 1000,
        }
    ]
    body = order_body(till["store"], items=items, payments=[{"method": "cash", "amount": 1000}])
    order = post_order(client, till["headers"], body, "k").json()
    line_id = order["items"][0]["id"]
    amounts = [
        refund(
            client,
            till["headers"],
            order["id"],
            {"items": [{"line_id": line_id, "quantity": 1}]},
            f"r-{n}",
        ).json()["amount"]
        for n in range(3)
    ]
    assert amounts == [333, 333, 334]


def test_store_scope_on_orders(client: TestClient, session: Session, settings: Settings) -> None:
    a, b = make_store(session), make_store(session)
    admin = staff_headers(make_staff(session), settings)
    in_b = post_order(client, admin, order_body(b), "k-b").json()
    post_order(client, admin, order_body(a), "k-a")
    manager_a = staff_headers(make_staff(session, Role.store_manager, [a]), settings)
    assert [
        o["store_id"] for o in client.get("/api/v1/orders", headers=manager_a).json()["items"]
    ] == [a.id]
    assert client.get(f"/api/v1/orders/{in_b['id']}", headers=manager_a).status_code == 404
    assert refund(client, manager_a, in_b["id"], {"all": True}, "r").status_code == 404
    assert (
        post_order(client, manager_a, order_body(b), "k-x").json()["errors"][0]["field"]
        == "store_id"
    )


def test_queries_filter_by_member_channel_and_time(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    admin = staff_headers(make_staff(session), settings)
    member = make_member(session, store)
    mine = post_order(
        client,
        admin,
        order_body(
            store,
            member_id=member.id,
            channel="mini_program",
            occurred_at="2026-03-01T10:00:00+08:00",
        ),
        "k1",
    ).json()
    post_order(client, admin, order_body(store, occurred_at="2026-04-01T10:00:00+08:00"), "k2")
    assert [
        o["id"]
        for o in client.get(f"/api/v1/members/{member.id}/orders", headers=admin).json()["items"]
    ] == [mine["id"]]
    assert [
        o["id"]
        for o in client.get("/api/v1/orders?channel=mini_program", headers=admin).json()["items"]
    ] == [mine["id"]]
    window = {"since": "2026-02-01T00:00:00+08:00", "until": "2026-03-15T00:00:00+08:00"}
    assert [
        o["id"] for o in client.get("/api/v1/orders", params=window, headers=admin).json()["items"]
    ] == [mine["id"]]
    timeline = client.get(f"/api/v1/members/{member.id}/timeline", headers=admin).json()
    assert [e["data"]["order_id"] for e in timeline if e["kind"] == "order"] == [mine["id"]]


@pytest.fixture
def recorded() -> Iterator[list[Event[Any]]]:
    seen: list[Event[Any]] = []

    def record(_: Session, event: Event[Any]) -> None:
        seen.append(event)

    for kind in (ORDER_COMPLETED, ORDER_REFUNDED):
        kind.subscribers.register("test.record")(record)
    yield seen
    for kind in (ORDER_COMPLETED, ORDER_REFUNDED):
        kind.subscribers.unregister("test.record")


def test_events_reach_subscribers_and_the_outbox(
    client: TestClient, session: Session, till: dict[str, Any], recorded: list[Event[Any]]
) -> None:
    member = make_member(session, till["store"])
    order = post_order(
        client, till["headers"], order_body(till["store"], member_id=member.id), "k"
    ).json()
    refund(client, till["headers"], order["id"], {"all": True}, "r")
    assert [e.type for e in recorded] == ["order.completed", "order.refunded"]
    completed, refunded = recorded[0].payload, recorded[1].payload
    assert isinstance(completed, OrderCompleted)
    assert isinstance(refunded, OrderRefunded)
    assert completed.member_id == member.id
    assert completed.payments == {"wechat_pay": 12000}
    assert sum(line.paid for line in completed.lines) == 12000
    assert refunded.amount == 12000
    assert refunded.fully_refunded is True
    outbox = session.scalars(
        select(OutboxEvent)
        .where(~OutboxEvent.type.startswith("member."))  # the member's registration
        .order_by(OutboxEvent.id)
    ).all()
    # Each followed by what its subscribers published (the points earned, then taken back).
    assert [(e.type, e.entity_id) for e in outbox] == [
        ("order.completed", str(order["id"])),
        ("points.changed", str(member.id)),
        ("order.refunded", str(order["id"])),
        ("points.changed", str(member.id)),
    ]
    outbox = [e for e in outbox if e.type.startswith("order.")]
    # The outbox keeps each typed payload as JSON.
    assert outbox[0].payload["member_id"] == member.id
    assert outbox[0].payload["lines"][0]["sku"] == completed.lines[0].sku
    assert datetime.fromisoformat(outbox[0].payload["occurred_at"]) == completed.occurred_at
    assert outbox[1].payload["lines"] == [
        {"line_id": line.line_id, "quantity": line.quantity, "amount": line.amount}
        for line in refunded.lines
    ]
    assert all(e.delivered_at is None for e in outbox)


def test_a_failing_subscriber_rolls_the_order_back(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    def explode(_: Session, __: Event[Any]) -> None:
        raise RuntimeError("points service broke")

    ORDER_COMPLETED.subscribers.register("test.explode")(explode)
    try:
        with TestClient(client.app, raise_server_exceptions=False) as quiet:
            response = post_order(quiet, till["headers"], order_body(till["store"]), "k")
    finally:
        ORDER_COMPLETED.subscribers.unregister("test.explode")
    assert response.status_code == 500
    assert session.scalar(select(OutboxEvent.id)) is None


def test_merge_moves_orders(client: TestClient, session: Session, settings: Settings) -> None:
    store = make_store(session)
    admin = staff_headers(make_staff(session), settings)
    source, target = make_member(session, store), make_member(session, store)
    order = post_order(client, admin, order_body(store, member_id=source.id), "k").json()
    client.post(
        "/api/v1/members/merge",
        json={"source_id": source.id, "target_id": target.id},
        headers=admin,
    )
    assert (
        client.get(f"/api/v1/orders/{order['id']}", headers=admin).json()["member_id"] == target.id
    )
    exported = client.get(f"/api/v1/members/{target.id}/export", headers=admin).json()
    assert [o["id"] for o in exported["orders"]] == [order["id"]]
    lines = session.scalars(select(OrderLine.member_id).where(OrderLine.order_id == order["id"]))
    assert set(lines) == {target.id}


def test_amounts_beyond_the_money_columns_are_refused(
    client: TestClient, till: dict[str, Any]
) -> None:
    huge = 2_147_483_647
    items = [
        {
            "sku": "GOLD",
            "name": "金条",
            "quantity": 1,
            "unit_price": huge,
            "discount": 0,
            "paid": huge,
        }
    ] * 2
    body = order_body(
        till["store"], items=items, payments=[{"method": "bank_card", "amount": huge}] * 2
    )
    response = post_order(client, till["headers"], body, "k-huge")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items"


@pytest.mark.parametrize("field", ["store_id", "member_id"])
def test_ids_beyond_the_integer_columns_are_refused(
    client: TestClient, session: Session, settings: Settings, field: str
) -> None:
    admin = staff_headers(make_staff(session), settings)
    for value in (2**31, 2**63):
        body = order_body(make_store(session), **{field: value})
        response = post_order(client, admin, body, f"k-{value}")
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "line",
    [
        {"sku": "CANDY", "name": "糖", "quantity": 3, "unit_price": 1, "discount": 2, "paid": 1},
        {"sku": "GIFT", "name": "赠品", "quantity": 1, "unit_price": 0, "discount": 0, "paid": 0},
    ],
    ids=["a_third_of_a_fen", "free_gift"],
)
def test_a_refund_worth_no_fen_is_recorded_and_shown(
    client: TestClient, till: dict[str, Any], line: dict[str, Any]
) -> None:
    items = [line, _line(quantity=1, paid=500)]
    payments = [{"method": "cash", "amount": line["paid"] + 500}]
    created = post_order(
        client, till["headers"], order_body(till["store"], items=items, payments=payments), "k"
    )
    assert created.status_code == 201, "a free line inside a paid order is fine"
    order = created.json()
    body = {"items": [{"line_id": order["items"][0]["id"], "quantity": 1}]}
    response = refund(client, till["headers"], order["id"], body, "r")
    assert (response.status_code, response.json()["amount"]) == (201, 0)
    shown = client.get(f"/api/v1/orders/{order['id']}", headers=till["headers"]).json()
    assert [r["id"] for r in shown["refunds"]] == [response.json()["id"]]


def test_member_orders_follow_member_scope(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session), make_store(session)
    member_b = make_member(session, b)
    manager_a = staff_headers(make_staff(session, Role.store_manager, [a]), settings)
    assert client.get(f"/api/v1/members/{member_b.id}", headers=manager_a).status_code == 404
    orders = client.get(f"/api/v1/members/{member_b.id}/orders", headers=manager_a)
    assert (orders.status_code, orders.json()["code"]) == (404, "member_not_found")


def test_orders_filter_by_store_and_page_by_cursor(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session), make_store(session)
    admin = staff_headers(make_staff(session), settings)
    in_a = [post_order(client, admin, order_body(a), f"a{n}").json()["id"] for n in range(5)]
    post_order(client, admin, order_body(b), "b0")
    seen: list[int] = []
    params: dict[str, Any] = {"store_id": a.id, "limit": 2}
    while True:
        page = client.get("/api/v1/orders", params=params, headers=admin).json()
        seen += [o["id"] for o in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted(in_a)  # every order of the store once, none of the other


def test_a_new_order_answers_its_time_in_utc(client: TestClient, till: dict[str, Any]) -> None:
    body = {**order_body(till["store"], "UTC-1"), "occurred_at": "2026-03-02T12:00:00+08:00"}
    created = post_order(client, till["headers"], body, "utc-1").json()
    assert created["occurred_at"] in ("2026-03-02T04:00:00Z", "2026-03-02T04:00:00+00:00")
    shown = client.get(f"/api/v1/orders/{created['id']}", headers=till["headers"]).json()
    assert shown["occurred_at"] == created["occurred_at"]
