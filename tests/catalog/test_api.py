from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.core.actor import SYSTEM, Role
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


def test_product_import_in_yuan_is_idempotent(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    text = "商品编码,商品名称,品类编码,零售价,会员价\nA1,牙刷,CARE,12.50,9.9\nA2,牙膏,CARE,8,\nA3,坏价格,CARE,1.234,\n"
    files = {"file": ("p.csv", text.encode(), "text/csv")}
    report = client.post(
        "/api/v1/imports/products?dry_run=false", files=files, headers=headers
    ).json()
    assert (report["created"], [e["field"] for e in report["errors"]]) == (2, ["list_price"])
    products = {
        p["sku"]: p for p in client.get("/api/v1/products", headers=headers).json()["items"]
    }
    assert (products["A1"]["list_price"], products["A1"]["member_price"]) == (1250, 990)
    again = client.post(
        "/api/v1/imports/products?dry_run=false", files=files, headers=headers
    ).json()
    assert (again["created"], again["updated"], again["skipped"]) == (0, 0, 2)


@pytest.mark.parametrize(
    ("row", "field", "code"),
    [
        ("P1,杯子," + "C" * 33 + ",1", "category_code", "too_long"),
        ("P1,杯子,CUP,1e999999", "list_price", "not_an_amount"),
        ("P1,杯子,CUP,-1", "list_price", "out_of_range"),
        ("P1,杯子,CUP,1,sold", "status", "not_a_status"),
        ("," + "杯子,CUP,1", "sku", "missing"),
    ],
    ids=["category_code_too_long", "price_overflowing_decimal", "negative", "status", "no_sku"],
)
def test_product_import_reports_values_it_cannot_store(
    session: Session, row: str, field: str, code: str
) -> None:
    text = "sku,name,category_code,list_price,status\n" + row + "\n"
    for dry_run in (True, False):
        report = catalog.import_products(session, SYSTEM, text.encode(), "p.csv", dry_run)
        found = [(e["row"], e["field"], e["code"]) for e in report.errors]
        assert (report.created, found) == (0, [(2, field, code)])


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00\x01garbage\x80\x81", ("sku,name\nP1," + "杯" * 140_000 + "\n").encode()],
    ids=["not_utf8_or_gb18030", "field_over_csv_limit"],
)
def test_an_unreadable_product_csv_is_a_problem(
    client: TestClient, session: Session, settings: Settings, content: bytes
) -> None:
    headers = staff_headers(make_staff(session), settings)
    files = {"file": ("p.csv", content, "text/csv")}
    response = client.post("/api/v1/imports/products", files=files, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


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
