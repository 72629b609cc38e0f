from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from tests.factories import make_staff, staff_headers
from tests.uploads import batches, report_of, upload

Sessions = Callable[[], Session]
PRODUCTS = "/api/v1/imports/products"


def test_product_import_in_yuan_is_idempotent(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    text = "商品编码,商品名称,品类编码,零售价,会员价\nA1,牙刷,CARE,12.50,9.9\nA2,牙膏,CARE,8,\nA3,坏价格,CARE,1.234,\n"
    report = report_of(upload(client, PRODUCTS, text.encode(), headers, dry_run=False))
    assert (report["created"], [e["field"] for e in report["errors"]]) == (2, ["list_price"])
    products = {
        p["sku"]: p for p in client.get("/api/v1/products", headers=headers).json()["items"]
    }
    assert (products["A1"]["list_price"], products["A1"]["member_price"]) == (1250, 990)
    again = report_of(upload(client, PRODUCTS, text.encode(), headers, dry_run=False))
    assert (again["created"], again["updated"], again["skipped"]) == (0, 0, 2)


def test_product_import_commits_in_batches(session: Session, sessions: Sessions) -> None:
    rows = "".join(f"P{n},杯子{n},CUP,{n}\n" for n in range(1, 8))
    text = "sku,name,category_code,list_price\n" + rows
    report = catalog.import_products(batches(sessions, 3), SYSTEM, text.encode(), "p.csv", False)
    assert (report.rows, report.created, report.errors) == (7, 7, [])
    changed = text.replace("杯子7", "杯子七")
    again = catalog.import_products(batches(sessions, 3), SYSTEM, changed.encode(), "p.csv", False)
    assert (again.created, again.updated, again.skipped) == (0, 1, 6)


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
    sessions: Sessions, row: str, field: str, code: str
) -> None:
    text = "sku,name,category_code,list_price,status\n" + row + "\n"
    for dry_run in (True, False):
        report = catalog.import_products(batches(sessions), SYSTEM, text.encode(), "p.csv", dry_run)
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
    record = upload(client, PRODUCTS, content, headers)
    assert record["status"] == "failed"
    assert record["problem"]["errors"][0]["field"] == "file"
