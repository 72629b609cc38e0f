"""The member's own API: every route reads or changes the token's member only; another member's
coupon code answers 404 as one nobody holds; staff tokens are refused here as member tokens are
on staff routes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.security import issue_member_token
from patron.count_cards import cards, products
from patron.members import consents
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.stores.models import Store
from tests.conftest import TEST_SECRET, QueryCounter
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_order,
    make_staff,
    make_store,
    staff_headers,
)


def bearer(member: Member) -> dict[str, str]:
    token = issue_member_token(TEST_SECRET, member.id, timedelta(days=1)).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def store(session: Session) -> Store:
    return make_store(session)


@pytest.fixture
def pair(session: Session, store: Store) -> tuple[Member, Member]:
    return (
        make_member(session, store, mobile="13911110001", name="甲"),
        make_member(session, store, mobile="13911110002", name="乙"),
    )


def test_me_is_my_own_profile(client: TestClient, pair: tuple[Member, Member]) -> None:
    mine, other = pair
    body = client.get("/api/v1/me", headers=bearer(mine)).json()
    assert body["id"] == mine.id
    assert body["name"] == "甲"
    assert {c["channel"] for c in body["consents"]} == {"sms", "email", "wechat"}
    assert client.get("/api/v1/me", headers=bearer(other)).json()["id"] == other.id


def test_every_me_route_needs_a_member_token(
    client: TestClient, session: Session, app: object
) -> None:
    staff = staff_headers(make_staff(session, "hq_admin"), client.app.state.settings)  # type: ignore[attr-defined]
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/me/points"),
        ("GET", "/api/v1/me/coupons"),
        ("GET", "/api/v1/me/orders"),
        ("GET", "/api/v1/me/tier"),
        ("GET", "/api/v1/me/stored-value"),
        ("GET", "/api/v1/me/count-cards"),
        ("POST", "/api/v1/me/code"),
        ("GET", "/api/v1/me/export"),
        ("PATCH", "/api/v1/me"),
        ("PUT", "/api/v1/me/consents/sms"),
        ("POST", "/api/v1/me/erasure"),
    ]:
        for headers in ({}, staff):
            answer = client.request(method, path, headers=headers, json={})
            assert answer.status_code == 401, (method, path, answer.text)


def test_orders_points_and_cards_are_only_mine(
    client: TestClient, session: Session, store: Store, pair: tuple[Member, Member]
) -> None:
    mine, other = pair
    make_order(session, store, mine, external_id="MINE-1")
    make_order(session, store, other, external_id="OTHER-1")
    product = products.save_product(
        session, SYSTEM, {"name": "洗车10次", "service": "洗车", "uses": 10, "price": 30000}
    )
    cards.sell(session, SYSTEM, other.id, store.id, product.id, cards.Payment("cash"))
    orders = client.get("/api/v1/me/orders", headers=bearer(mine)).json()["items"]
    assert [o["external_id"] for o in orders] == ["MINE-1"]
    assert [i["sku"] for i in orders[0]["items"]] == ["SKU-1", "SKU-2"]
    assert client.get("/api/v1/me/count-cards", headers=bearer(mine)).json() == []
    theirs = client.get("/api/v1/me/count-cards", headers=bearer(other)).json()
    assert [c["member_id"] for c in theirs] == [other.id]
    points = client.get("/api/v1/me/points", headers=bearer(mine)).json()
    assert {"available", "pending", "expiring_soon", "history", "next_cursor"} <= set(points)
    assert all(e["order_id"] != orders[0]["id"] + 1 for e in points["history"])
    stored = client.get("/api/v1/me/stored-value", headers=bearer(mine)).json()
    assert stored == {"principal": 0, "bonus": 0, "balance": 0}
    tier = client.get("/api/v1/me/tier", headers=bearer(mine))
    assert tier.status_code == 200
    assert tier.json()["member_id"] == mine.id


def test_my_orders_cost_the_same_queries_however_many(
    client: TestClient,
    session: Session,
    store: Store,
    pair: tuple[Member, Member],
    count_queries: QueryCounter,
) -> None:
    mine, _ = pair

    def queries() -> int:
        count_queries.count = 0
        answer = client.get("/api/v1/me/orders", headers=bearer(mine))
        assert answer.status_code == 200
        return count_queries.count

    first = make_order(session, store, mine)
    orders.refund_order(session, SYSTEM, first.id, RefundCreate(all=True))
    one = queries()
    for _ in range(4):
        refunded = make_order(session, store, mine)
        orders.refund_order(session, SYSTEM, refunded.id, RefundCreate(all=True))
    listed = client.get("/api/v1/me/orders", headers=bearer(mine)).json()["items"]
    assert len(listed) == 5
    assert all(o["refunds"][0]["lines"] for o in listed)
    assert queries() == one


def test_coupons_and_their_transfer_by_mobile(
    client: TestClient, session: Session, pair: tuple[Member, Member]
) -> None:
    mine, other = pair
    gift = make_coupon_template(session, transferable=True)
    kept = make_coupon_template(session)
    my_gift = issue_coupon(session, gift, mine)
    my_kept = issue_coupon(session, kept, mine)
    theirs = issue_coupon(session, gift, other)
    listed = client.get("/api/v1/me/coupons?status=available", headers=bearer(mine)).json()
    assert {c["code"] for c in listed["items"]} == {my_gift.code, my_kept.code}
    key = {"Idempotency-Key": "gift-1"}
    # Another member's coupon is nobody's as far as I am concerned.
    stolen = client.post(
        f"/api/v1/me/coupons/{theirs.code}/transfer",
        json={"mobile": "13911110001"},
        headers=bearer(mine) | key,
    )
    assert stolen.status_code == 404
    assert stolen.json()["code"] == "coupon_not_found"
    refused = client.post(
        f"/api/v1/me/coupons/{my_kept.code}/transfer",
        json={"mobile": "13911110002"},
        headers=bearer(mine) | {"Idempotency-Key": "gift-2"},
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "coupon_not_transferable"
    nobody = client.post(
        f"/api/v1/me/coupons/{my_gift.code}/transfer",
        json={"mobile": "13911119999"},
        headers=bearer(mine) | {"Idempotency-Key": "gift-3"},
    )
    assert nobody.status_code == 422
    given = client.post(
        f"/api/v1/me/coupons/{my_gift.code}/transfer",
        json={"mobile": "13911110002"},
        headers=bearer(mine) | {"Idempotency-Key": "gift-4"},
    )
    assert given.status_code == 201, given.text
    assert given.json()["member_id"] == other.id
    theirs_now = client.get("/api/v1/me/coupons", headers=bearer(other)).json()["items"]
    assert my_gift.code in {c["code"] for c in theirs_now}


def test_profile_birthday_once_and_consents(
    client: TestClient, session: Session, pair: tuple[Member, Member]
) -> None:
    mine, other = pair
    changed = client.patch(
        "/api/v1/me",
        json={"name": "甲二", "birthday": "1990-05-01", "email": "jia@example.com"},
        headers=bearer(mine),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["birthday"] == "1990-05-01"
    assert changed.json()["birthday_editable"] is False
    again = client.patch("/api/v1/me", json={"birthday": "1991-05-01"}, headers=bearer(mine))
    assert again.status_code == 409
    assert again.json()["code"] == "birthday_already_set"
    same = client.patch("/api/v1/me", json={"birthday": "1990-05-01"}, headers=bearer(mine))
    assert same.status_code == 200
    assert client.patch("/api/v1/me", json={"name": None}, headers=bearer(mine)).status_code == 422
    future = (clock.today() + timedelta(days=400)).isoformat()
    assert (
        client.patch("/api/v1/me", json={"birthday": future}, headers=bearer(other)).status_code
        == 422
    )
    session.refresh(other)
    assert other.name == "乙"
    assert other.birthday is None
    put = client.put("/api/v1/me/consents/email", json={"granted": True}, headers=bearer(mine))
    assert put.status_code == 200
    assert put.json()["granted"] is True
    held = {c.channel: (c.granted, c.source) for c in consents.consents_of(session, mine.id)}
    assert held["email"] == (True, "member_page")
    assert not consents.has_consent(session, other.id, consents.ConsentChannel.email)


def test_member_code_export_and_erasure(
    client: TestClient, session: Session, pair: tuple[Member, Member]
) -> None:
    mine, other = pair
    code = client.post("/api/v1/me/code", headers=bearer(mine)).json()["code"]
    assert code.startswith(f"{mine.id:010d}")
    exported = client.get("/api/v1/me/export", headers=bearer(mine)).json()
    assert exported["member"]["id"] == mine.id
    assert exported["member"]["mobile"] == "+8613911110001"
    unconfirmed = client.post("/api/v1/me/erasure", json={"confirm": False}, headers=bearer(mine))
    assert unconfirmed.status_code == 422
    erased = client.post("/api/v1/me/erasure", json={"confirm": True}, headers=bearer(mine))
    assert erased.status_code == 200
    assert erased.json() == {"erased": True}
    assert client.get("/api/v1/me", headers=bearer(mine)).status_code == 401
    session.refresh(other)
    assert other.status == "active"
    assert other.mobile == "+8613911110002"
