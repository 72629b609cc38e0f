from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from patron.staff.models import StaffUser
from tests.factories import make_staff, make_store, staff_headers


def test_admin_creates_a_cashier_for_a_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    store = make_store(session)
    response = client.post(
        "/api/v1/staff",
        json={
            "username": "xiaowang",
            "password": "Passw0rd!",
            "role": "cashier",
            "store_ids": [store.id],
        },
        headers=headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["store_ids"] == [store.id]
    assert body["all_stores"] is False
    assert "password" not in body
    assert "password_hash" not in body
    stored = session.scalar(select(StaffUser).where(StaffUser.username == "xiaowang"))
    assert stored is not None
    assert stored.password_hash.startswith("$argon2")


def test_scope_rules(client: TestClient, session: Session, settings: Settings) -> None:
    headers = staff_headers(make_staff(session), settings)
    store = make_store(session)
    base = {"password": "Passw0rd!"}
    cases = [
        ({"username": "user1", "role": "hq_finance", "store_ids": [store.id]}, "all_stores"),
        ({"username": "user2", "role": "cashier"}, "store_ids"),
        ({"username": "user3", "role": "cashier", "store_ids": [999999]}, "store_ids"),
        ({"username": "user4", "role": "integration", "all_stores": True}, "role"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/staff", json={**base, **body}, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field


def test_duplicate_username_is_409(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session, username="taken"), settings)
    response = client.post(
        "/api/v1/staff",
        json={
            "username": "taken",
            "password": "Passw0rd!",
            "role": "hq_marketing",
            "all_stores": True,
        },
        headers=headers,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "username_taken"


def test_short_password_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    response = client.post(
        "/api/v1/staff",
        json={"username": "shorty", "password": "123", "role": "hq_marketing", "all_stores": True},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password"


def test_moving_a_guide_between_stores_is_audited(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    a, b = make_store(session), make_store(session)
    guide = make_staff(session, Role.guide, [a])
    response = client.patch(
        f"/api/v1/staff/{guide.id}", json={"store_ids": [b.id]}, headers=headers
    )
    assert response.json()["store_ids"] == [b.id]
    entry = client.get(
        "/api/v1/audit", params={"entity_type": "staff", "action": "staff.update"}, headers=headers
    ).json()["items"][0]
    assert entry["before"] == {"store_ids": [a.id]}
    assert entry["after"] == {"store_ids": [b.id]}


def test_promoting_to_hq_role_covers_all_stores(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    guide = make_staff(session, Role.guide, [make_store(session)])
    body = client.patch(
        f"/api/v1/staff/{guide.id}", json={"role": "hq_marketing"}, headers=headers
    ).json()
    assert body["role"] == "hq_marketing"
    assert body["all_stores"] is True
    assert body["store_ids"] == []


def test_nobody_deactivates_themselves(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    response = client.patch(
        f"/api/v1/staff/{admin.id}",
        json={"is_active": False},
        headers=staff_headers(admin, settings),
    )
    assert response.status_code == 403


def test_password_reset_unlocks_and_is_audited(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    user = make_staff(session, Role.cashier, [make_store(session)], username="locked")
    for _ in range(5):
        client.post("/api/v1/auth/token", json={"username": "locked", "password": "nope"})
    client.patch(f"/api/v1/staff/{user.id}", json={"password": "Fresh-pass1"}, headers=headers)
    ok = client.post("/api/v1/auth/token", json={"username": "locked", "password": "Fresh-pass1"})
    assert ok.status_code == 200
    actions = [
        e["action"]
        for e in client.get(
            "/api/v1/audit", params={"entity_id": str(user.id)}, headers=headers
        ).json()["items"]
    ]
    assert "staff.reset_password" in actions
