from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from tests.conftest import QueryCounter
from tests.factories import make_staff, make_store, staff_headers

NEW_STORE = {
    "code": "HZ009",
    "name": "杭州湖滨店",
    "type": "franchise",
    "city": "杭州",
    "phone": "0571-8888",
}


def test_admin_creates_a_store(client: TestClient, session: Session, settings: Settings) -> None:
    headers = staff_headers(make_staff(session), settings)
    response = client.post("/api/v1/stores", json=NEW_STORE, headers=headers)
    assert response.status_code == 201
    store = response.json()
    assert store["status"] == "open"
    assert store["type"] == "franchise"
    assert (
        client.get(f"/api/v1/stores/{store['id']}", headers=headers).json()["name"] == "杭州湖滨店"
    )


def test_duplicate_code_is_409_and_changes_nothing(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    client.post("/api/v1/stores", json=NEW_STORE, headers=headers)
    again = client.post("/api/v1/stores", json={**NEW_STORE, "name": "另一家"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["code"] == "store_code_exists"
    listed = client.get("/api/v1/stores", headers=headers).json()["items"]
    assert [s["name"] for s in listed] == ["杭州湖滨店"]


def test_close_a_store_is_audited_with_before_and_after(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    headers = staff_headers(admin, settings)
    store = make_store(session)
    response = client.patch(
        f"/api/v1/stores/{store.id}",
        json={"status": "closed"},
        headers={**headers, "X-Request-ID": "req-close-0001"},
    )
    assert response.json()["status"] == "closed"
    entries = client.get(
        "/api/v1/audit",
        params={"entity_type": "store", "entity_id": str(store.id)},
        headers=headers,
    ).json()["items"]
    latest = entries[0]
    assert latest["action"] == "store.close"
    assert latest["before"] == {"status": "open"}
    assert latest["after"] == {"status": "closed"}
    assert latest["actor_type"] == "staff"
    assert latest["actor_id"] == admin.id
    assert latest["store_id"] == store.id
    assert latest["request_id"] == "req-close-0001"


def test_store_manager_may_edit_only_address_and_phone(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    headers = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    ok = client.patch(f"/api/v1/stores/{store.id}", json={"phone": "021-1234"}, headers=headers)
    assert ok.status_code == 200
    assert ok.json()["phone"] == "021-1234"
    assert (
        client.patch(
            f"/api/v1/stores/{store.id}", json={"status": "closed"}, headers=headers
        ).status_code
        == 403
    )
    assert client.post("/api/v1/stores", json=NEW_STORE, headers=headers).status_code == 403


def test_null_and_unknown_fields_are_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    store = make_store(session)
    assert (
        client.patch(f"/api/v1/stores/{store.id}", json={"name": None}, headers=headers).status_code
        == 422
    )
    unknown = client.patch(f"/api/v1/stores/{store.id}", json={"colour": "red"}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "colour"


def test_cursor_pagination_walks_every_store_once(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    codes = {make_store(session).code for _ in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/stores", params=params, headers=headers).json()
        seen += [s["code"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(codes)
    assert client.get("/api/v1/stores", params={"cursor": "@@"}, headers=headers).status_code == 422


def test_filters(client: TestClient, session: Session, settings: Settings) -> None:
    headers = staff_headers(make_staff(session), settings)
    make_store(session, "BJ1", city="北京", type="franchise")
    make_store(session, "SH1", city="上海")
    assert [
        s["code"] for s in client.get("/api/v1/stores?city=北京", headers=headers).json()["items"]
    ] == ["BJ1"]
    assert [
        s["code"] for s in client.get("/api/v1/stores?type=owned", headers=headers).json()["items"]
    ] == ["SH1"]
    assert [
        s["code"] for s in client.get("/api/v1/stores?q=sh", headers=headers).json()["items"]
    ] == ["SH1"]


def test_listing_queries_do_not_grow_with_rows(
    client: TestClient, session: Session, settings: Settings, count_queries: QueryCounter
) -> None:
    headers = staff_headers(make_staff(session), settings)

    def queries_for(path: str) -> int:
        count_queries.count = 0
        assert client.get(path, headers=headers).status_code == 200
        return count_queries.count

    make_store(session)
    few = (queries_for("/api/v1/stores"), queries_for("/api/v1/staff"))
    for _ in range(5):
        make_staff(session, Role.cashier, [make_store(session)])
    many = (queries_for("/api/v1/stores"), queries_for("/api/v1/staff"))
    assert many == few
