"""The mall over HTTP: items (HQ), redemptions by staff and by the member themself, with
Idempotency-Key, the 409 codes, fulfilment, cancelling, and who sees what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.security import issue_member_token
from patron.core.settings import Settings
from tests.conftest import QueryCounter
from tests.factories import (
    make_coupon_template,
    make_member,
    make_staff,
    make_store,
    staff_headers,
)
from tests.mall.helpers import available, give

CUP = {
    "kind": "product",
    "name": "保温杯",
    "name_en": "Thermos",
    "points_price": 500,
    "fulfilment": ["pickup", "delivery"],
    "stock": 2,
    "per_member_limit": 1,
}


def member_headers(settings: Settings, member_id: int) -> dict[str, str]:
    token = issue_member_token(settings.secret_key, member_id, timedelta(hours=1)).token
    return {"Authorization": f"Bearer {token}"}


def post(
    client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str], key: str
) -> Any:
    return client.post(f"/api/v1{path}", json=body, headers={**headers, "Idempotency-Key": key})


@pytest.fixture
def mall(session: Session, settings: Settings) -> dict[str, Any]:
    store, other = make_store(session), make_store(session)
    member = make_member(session, store)
    give(session, member.id, 1200)
    return {
        "store": store,
        "other": other,
        "member": member,
        "hq": staff_headers(make_staff(session, Role.hq_marketing), settings),
        "cashier": staff_headers(make_staff(session, Role.cashier, [store]), settings),
        "manager": staff_headers(make_staff(session, Role.store_manager, [other]), settings),
        "me": member_headers(settings, member.id),
    }


def test_hq_manages_items(client: TestClient, mall: dict[str, Any], session: Session) -> None:
    hq = mall["hq"]
    made = client.post("/api/v1/mall/items", json=CUP, headers=hq)
    assert made.status_code == 201, made.text
    item = made.json()
    assert item["fulfilment"] == ["pickup", "delivery"]
    assert item["redeemed_count"] == 0
    template = make_coupon_template(session)
    coupon = {"kind": "coupon", "name": "券", "points_price": 100}
    refused = client.post("/api/v1/mall/items", json=coupon, headers=hq)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "needed_for_type"
    ok = client.post(
        "/api/v1/mall/items", json={**coupon, "coupon_template_id": template.id}, headers=hq
    )
    assert ok.status_code == 201
    assert client.post("/api/v1/mall/items", json=CUP, headers=mall["cashier"]).status_code == 403
    url = f"/api/v1/mall/items/{item['id']}"
    nulled = client.patch(url, json={"points_price": None}, headers=hq)
    assert nulled.status_code == 422
    changed = client.patch(url, json={"points_price": 600, "stock": None}, headers=hq)
    assert changed.json()["points_price"] == 600
    assert changed.json()["stock"] is None
    page = client.get("/api/v1/mall/items", params={"limit": 1}, headers=mall["cashier"]).json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    rest = client.get(
        "/api/v1/mall/items", params={"cursor": page["next_cursor"]}, headers=mall["cashier"]
    ).json()
    assert {i["id"] for i in page["items"] + rest["items"]} == {item["id"], ok.json()["id"]}
    off = client.post(f"{url}/deactivate", headers=hq)
    assert off.json()["active"] is False


def test_staff_redeem_once_per_key_and_the_conflicts(
    client: TestClient, mall: dict[str, Any], session: Session
) -> None:
    item = client.post("/api/v1/mall/items", json=CUP, headers=mall["hq"]).json()
    member, store = mall["member"], mall["store"]
    path = f"/members/{member.id}/mall/redemptions"
    body = {"item_id": item["id"], "fulfilment": "pickup", "store_id": store.id}
    first = post(client, path, body, mall["cashier"], "k1")
    again = post(client, path, body, mall["cashier"], "k1")
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert again.json() == first.json()
    assert first.json()["status"] == "pending"
    assert first.json()["points"] == 500
    assert available(session, member.id) == 700
    limited = post(client, path, body, mall["cashier"], "k2")
    assert (limited.status_code, limited.json()["code"]) == (409, "limit_reached")
    outside = post(client, path, {**body, "store_id": mall["other"].id}, mall["cashier"], "k3")
    assert outside.status_code == 422
    assert client.post(f"/api/v1{path}", json=body, headers=mall["cashier"]).status_code == 422
    poor = make_member(session, store)
    give(session, poor.id, 100)
    broke = post(client, f"/members/{poor.id}/mall/redemptions", body, mall["cashier"], "k4")
    assert (broke.status_code, broke.json()["code"]) == (409, "insufficient_points")
    rich = make_member(session, store)
    give(session, rich.id, 5000)
    post(client, f"/members/{rich.id}/mall/redemptions", body, mall["cashier"], "k5")
    richer = make_member(session, store)
    give(session, richer.id, 5000)
    gone = post(client, f"/members/{richer.id}/mall/redemptions", body, mall["cashier"], "k6")
    assert (gone.status_code, gone.json()["code"]) == (409, "out_of_stock")


def test_hand_over_ship_cancel_and_the_store_scope(
    client: TestClient, mall: dict[str, Any], session: Session
) -> None:
    item = client.post("/api/v1/mall/items", json={**CUP, "stock": None}, headers=mall["hq"]).json()
    member, store = mall["member"], mall["store"]
    path = f"/members/{member.id}/mall/redemptions"
    pickup = {"item_id": item["id"], "fulfilment": "pickup", "store_id": store.id}
    made = post(client, path, pickup, mall["cashier"], "p1").json()
    rid = made["id"]
    # The other store's manager does not see it.
    assert client.get(f"/api/v1/mall/redemptions/{rid}", headers=mall["manager"]).status_code == 404
    listed = client.get(
        "/api/v1/mall/redemptions", params={"status": "pending"}, headers=mall["manager"]
    ).json()
    assert listed["items"] == []
    mine = client.get(
        "/api/v1/mall/redemptions",
        params={"status": "pending", "store_id": store.id},
        headers=mall["cashier"],
    ).json()
    assert [r["id"] for r in mine["items"]] == [rid]
    cancelled = post(
        client, f"/mall/redemptions/{rid}/cancel", {"reason": "不要了"}, mall["hq"], "c1"
    )
    assert cancelled.status_code == 201
    assert cancelled.json()["status"] == "cancelled"
    assert available(session, member.id) == 1200
    again = post(client, f"/mall/redemptions/{rid}/cancel", {"reason": "x"}, mall["hq"], "c2")
    assert (again.status_code, again.json()["code"]) == (409, "redemption_status")
    made = post(client, path, pickup, mall["cashier"], "p2").json()
    handed = client.post(
        f"/api/v1/mall/redemptions/{made['id']}/hand-over", headers=mall["cashier"]
    )
    assert handed.json()["status"] == "handed_over"
    delivery = {
        "item_id": item["id"],
        "fulfilment": "delivery",
        "recipient_name": "张三",
        "recipient_mobile": "13800000000",
        "address": "上海市南京西路1号",
    }
    other = make_member(session, store)
    give(session, other.id, 1000)
    sent = post(client, f"/members/{other.id}/mall/redemptions", delivery, mall["hq"], "d1").json()
    shipped = client.post(
        f"/api/v1/mall/redemptions/{sent['id']}/ship",
        json={"tracking": "SF1001"},
        headers=mall["hq"],
    )
    assert shipped.json()["status"] == "shipped"
    assert shipped.json()["tracking"] == "SF1001"


def test_the_member_redeems_and_reads_their_own(
    client: TestClient, mall: dict[str, Any], session: Session
) -> None:
    cheap = client.post("/api/v1/mall/items", json=CUP, headers=mall["hq"]).json()
    dear = client.post(
        "/api/v1/mall/items",
        json={**CUP, "name": "电饭煲", "points_price": 5000},
        headers=mall["hq"],
    ).json()
    me = mall["me"]
    offered = client.get("/api/v1/me/mall/items", headers=me).json()
    assert [(i["id"], i["affordable"]) for i in offered] == [
        (cheap["id"], True),
        (dear["id"], False),
    ]
    assert offered[0]["remaining_for_member"] == 1
    body = {"item_id": cheap["id"], "fulfilment": "pickup", "store_id": mall["store"].id}
    made = post(client, "/me/mall/redemptions", body, me, "m1")
    assert made.status_code == 201
    assert made.json()["channel"] == "member"
    dear_body = {**body, "item_id": dear["id"]}
    broke = post(client, "/me/mall/redemptions", dear_body, me, "m2")
    assert broke.json()["code"] == "insufficient_points"
    mine = client.get("/api/v1/me/mall/redemptions", headers=me).json()
    assert [r["id"] for r in mine["items"]] == [made.json()["id"]]
    # Tokens do not cross: staff on /me, the member on staff routes.
    assert client.get("/api/v1/me/mall/items", headers=mall["hq"]).status_code == 401
    assert client.get("/api/v1/mall/redemptions", headers=me).status_code == 401


def test_the_members_offer_costs_the_same_queries_however_many_items(
    client: TestClient, mall: dict[str, Any], count_queries: QueryCounter
) -> None:
    me = mall["me"]

    def queries() -> int:
        count_queries.count = 0
        assert client.get("/api/v1/me/mall/items", headers=me).status_code == 200
        return count_queries.count

    first = client.post("/api/v1/mall/items", json=CUP, headers=mall["hq"]).json()
    body = {"item_id": first["id"], "fulfilment": "pickup", "store_id": mall["store"].id}
    assert post(client, "/me/mall/redemptions", body, me, "q1").status_code == 201
    one = queries()
    for n in range(4):
        more = {**CUP, "name": f"杯子{n}", "per_member_limit": 2 + n}
        assert client.post("/api/v1/mall/items", json=more, headers=mall["hq"]).status_code == 201
    offered = client.get("/api/v1/me/mall/items", headers=me).json()
    assert [i["remaining_for_member"] for i in offered] == [0, 2, 3, 4, 5]
    assert queries() == one
