from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from tests.factories import make_staff, make_store, staff_headers


def test_audit_is_for_hq_admin_and_finance(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    for role, status in ((Role.hq_admin, 200), (Role.hq_finance, 200), (Role.hq_marketing, 403)):
        user = make_staff(session, role)
        assert (
            client.get("/api/v1/audit", headers=staff_headers(user, settings)).status_code == status
        )
    manager = make_staff(session, Role.store_manager, [store])
    assert client.get("/api/v1/audit", headers=staff_headers(manager, settings)).status_code == 403


def test_filter_by_actor_and_time(client: TestClient, session: Session, settings: Settings) -> None:
    admin = make_staff(session)
    headers = staff_headers(admin, settings)
    day = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    with clock.frozen(day):
        client.post(
            "/api/v1/stores",
            json={"code": "D1", "name": "一号店", "type": "owned"},
            headers=headers,
        )
    with clock.frozen(day + timedelta(days=2)):
        client.post(
            "/api/v1/stores",
            json={"code": "D2", "name": "二号店", "type": "owned"},
            headers=headers,
        )

    by_admin = client.get(
        "/api/v1/audit", params={"actor_type": "staff", "actor_id": admin.id}, headers=headers
    ).json()["items"]
    assert [e["after"]["code"] for e in by_admin] == ["D2", "D1"]

    window = {
        "since": (day - timedelta(hours=1)).isoformat(),
        "until": (day + timedelta(days=1)).isoformat(),
    }
    in_window = client.get(
        "/api/v1/audit", params={**window, "entity_type": "store"}, headers=headers
    ).json()
    assert [e["after"]["code"] for e in in_window["items"]] == ["D1"]


def test_naive_times_are_refused(client: TestClient, session: Session, settings: Settings) -> None:
    headers = staff_headers(make_staff(session), settings)
    response = client.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "since"
