from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from tests.factories import make_staff, make_store, staff_headers


def test_category_tree_and_products(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    root = client.post(
        "/api/v1/categories", json={"code": "MB", "name": "母婴"}, headers=headers
    ).json()
    child = client.post(
        "/api/v1/categories",
        json={"code": "MB-NF", "name": "奶粉", "parent_id": root["id"]},
        headers=headers,
    ).json()
    assert child["parent_id"] == root["id"]
    assert client.get(f"/api/v1/categories/{child['id']}", headers=headers).json() == child
    first = client.get("/api/v1/categories?limit=1", headers=headers).json()
    rest = client.get(
        "/api/v1/categories", params={"cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert sorted(c["id"] for c in first["items"] + rest["items"]) == [root["id"], child["id"]]
    cycle = client.patch(
        f"/api/v1/categories/{root['id']}", json={"parent_id": child["id"]}, headers=headers
    )
    assert cycle.status_code == 422
    body = {
        "sku": "690001",
        "name": "婴儿奶粉 900g",
        "category_id": child["id"],
        "list_price": 29800,
        "member_price": 26800,
    }
    product = client.post("/api/v1/products", json=body, headers=headers)
    assert product.status_code == 201
    assert (
        client.post("/api/v1/products", json=body, headers=headers).json()["code"] == "code_taken"
    )
    under_root = client.get(f"/api/v1/products?category_id={root['id']}", headers=headers).json()[
        "items"
    ]
    assert [p["sku"] for p in under_root] == ["690001"]
    patched = client.patch(
        f"/api/v1/products/{product.json()['id']}", json={"status": "inactive"}, headers=headers
    )
    assert patched.json()["status"] == "inactive"


def test_store_staff_read_but_do_not_edit_the_catalog(
    client: TestClient, session: Session, settings: Settings
) -> None:
    cashier = staff_headers(make_staff(session, Role.cashier, [make_store(session)]), settings)
    assert client.get("/api/v1/products", headers=cashier).status_code == 200
    assert (
        client.post(
            "/api/v1/categories", json={"code": "X", "name": "x"}, headers=cashier
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/categories", {"code": "X", "name": "x", "parent_id": 2**63}, "parent_id"),
        ("/api/v1/products", {"sku": "X1", "name": "x", "category_id": 2**63}, "category_id"),
    ],
    ids=["parent_id", "category_id"],
)
def test_ids_beyond_the_integer_columns_are_refused(
    client: TestClient,
    session: Session,
    settings: Settings,
    path: str,
    body: dict[str, object],
    field: str,
) -> None:
    headers = staff_headers(make_staff(session), settings)
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
