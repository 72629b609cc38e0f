"""A store's staff and integrations never see or change another store's data (404, not 403)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.apikeys.models import ApiKey
from patron.core.actor import Role
from patron.core.settings import Settings
from tests.factories import auth, make_api_key, make_staff, make_store, staff_headers


def _api_key_with_id(session: Session) -> tuple[str, int]:
    key = make_api_key(session)
    key_id = session.scalar(select(ApiKey.id).where(ApiKey.prefix == key[:10]))
    assert key_id is not None
    return key, key_id


def test_store_manager_sees_only_their_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session, "A001"), make_store(session, "B001")
    manager = make_staff(session, Role.store_manager, [a])
    headers = staff_headers(manager, settings)

    listed = client.get("/api/v1/stores", headers=headers).json()["items"]
    assert [s["code"] for s in listed] == ["A001"]
    assert client.get(f"/api/v1/stores/{a.id}", headers=headers).status_code == 200
    hidden = client.get(f"/api/v1/stores/{b.id}", headers=headers)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "store_not_found"
    assert (
        client.patch(f"/api/v1/stores/{b.id}", json={"phone": "1"}, headers=headers).status_code
        == 404
    )


def test_store_manager_sees_only_their_stores_staff(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session, "A001"), make_store(session, "B001")
    manager = make_staff(session, Role.store_manager, [a])
    cashier_a = make_staff(session, Role.cashier, [a])
    cashier_b = make_staff(session, Role.cashier, [b])
    both = make_staff(session, Role.guide, [a, b])
    make_staff(session, Role.hq_marketing)
    headers = staff_headers(manager, settings)

    listed = {u["id"] for u in client.get("/api/v1/staff", headers=headers).json()["items"]}
    assert listed == {manager.id, cashier_a.id}
    for other in (cashier_b, both):
        assert client.get(f"/api/v1/staff/{other.id}", headers=headers).status_code == 404
        patched = client.patch(
            f"/api/v1/staff/{other.id}", json={"display_name": "x"}, headers=headers
        )
        assert patched.status_code == 404


def test_store_manager_cannot_assign_another_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session, "A001"), make_store(session, "B001")
    manager = make_staff(session, Role.store_manager, [a])
    headers = staff_headers(manager, settings)
    body = {"username": "newbie", "password": "Passw0rd!", "role": "cashier"}

    ok = client.post("/api/v1/staff", json={**body, "store_ids": [a.id]}, headers=headers)
    assert ok.status_code == 201
    other = client.post(
        "/api/v1/staff", json={**body, "username": "newbie2", "store_ids": [b.id]}, headers=headers
    )
    assert other.status_code == 403
    boss = client.post(
        "/api/v1/staff",
        json={**body, "username": "newbie3", "role": "hq_admin", "all_stores": True},
        headers=headers,
    )
    assert boss.status_code == 403


def test_cashier_and_guide_cannot_manage_staff(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a = make_store(session)
    for role in (Role.cashier, Role.guide):
        user = make_staff(session, role, [a])
        assert client.get("/api/v1/staff", headers=staff_headers(user, settings)).status_code == 403
        own = client.get(f"/api/v1/staff/{user.id}", headers=staff_headers(user, settings))
        assert own.status_code == 200


def test_api_key_scope(client: TestClient, session: Session) -> None:
    a, b = make_store(session, "A001"), make_store(session, "B001")
    headers = auth(make_api_key(session, [a]))
    assert [s["code"] for s in client.get("/api/v1/stores", headers=headers).json()["items"]] == [
        "A001"
    ]
    assert client.get(f"/api/v1/stores/{b.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/staff", headers=headers).status_code == 403
    assert client.post("/api/v1/stores", json={}, headers=headers).status_code == 403


def test_hq_sees_every_store(client: TestClient, session: Session, settings: Settings) -> None:
    make_store(session, "A001")
    make_store(session, "B001")
    marketing = make_staff(session, Role.hq_marketing)
    listed = client.get("/api/v1/stores", headers=staff_headers(marketing, settings)).json()[
        "items"
    ]
    assert {s["code"] for s in listed} == {"A001", "B001"}


def test_store_manager_cannot_change_a_fellow_manager(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a = make_store(session)
    manager, fellow = (make_staff(session, Role.store_manager, [a]) for _ in range(2))
    cashier = make_staff(session, Role.cashier, [a])
    headers = staff_headers(manager, settings)
    for body in ({"role": "cashier", "is_active": False}, {"display_name": "x"}):
        response = client.patch(f"/api/v1/staff/{fellow.id}", json=body, headers=headers)
        assert response.status_code == 403
    session.refresh(fellow)
    assert (fellow.role, fellow.is_active) == ("store_manager", True)
    edited = client.patch(f"/api/v1/staff/{cashier.id}", json={"role": "guide"}, headers=headers)
    assert edited.status_code == 200


def test_api_key_sees_no_staff_even_one_sharing_its_id(
    client: TestClient, session: Session
) -> None:
    key, key_id = _api_key_with_id(session)
    user = make_staff(session)
    while key_id != user.id:  # line the sequences up: API key #n and staff user #n
        if key_id < user.id:
            key, key_id = _api_key_with_id(session)
        else:
            user = make_staff(session)
    response = client.get(f"/api/v1/staff/{user.id}", headers=auth(key))
    assert response.status_code == 404
    assert response.json()["code"] == "staff_not_found"
