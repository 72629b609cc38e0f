from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core.actor import Role
from patron.core.settings import Settings
from tests.factories import make_staff, make_store, staff_headers

BODY = {
    "name": "满100减20",
    "type": "cash_off",
    "threshold": 10000,
    "amount": 2000,
    "valid_days": 7,
}


@pytest.fixture
def marketing(client: TestClient, session: Session, settings: Settings) -> TestClient:
    client.headers.update(staff_headers(make_staff(session, Role.hq_marketing), settings))
    return client


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/coupon-templates", json=BODY | fields)
    assert response.status_code == 201, response.json()
    return dict(response.json())


def test_create_read_and_list(marketing: TestClient, session: Session) -> None:
    store = make_store(session)
    made = create(marketing, scope={"store_ids": [store.id], "exclude_skus": ["GIFT-CARD"]})
    assert made["status"] == "draft"
    assert made["issued_count"] == 0
    assert made["scope"]["store_ids"] == [store.id]
    assert made["scope"]["exclude_skus"] == ["GIFT-CARD"]
    assert made["scope"]["channels"] == []
    one = marketing.get(f"/api/v1/coupon-templates/{made['id']}").json()
    assert one == made
    active = create(marketing, status="active")
    listed = marketing.get("/api/v1/coupon-templates", params={"status": "active"}).json()
    assert [t["id"] for t in listed["items"]] == [active["id"]]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "coupon.template_create"))
    assert entry is not None


def test_a_refusal_names_the_field_and_its_code(marketing: TestClient) -> None:
    response = marketing.post(
        "/api/v1/coupon-templates", json=BODY | {"type": "percent_off", "percent_off": 15}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "amount",
        "code": "not_for_type",
        "message": "a percent_off coupon takes no amount",
    }
    response = marketing.post("/api/v1/coupon-templates", json=BODY | {"percent_off": 100})
    assert response.json()["errors"][0]["code"] == "too_large"


def test_patch_moves_the_status_and_refuses_a_live_templates_value(marketing: TestClient) -> None:
    made = create(marketing, status="active", total_stock=100)
    path = f"/api/v1/coupon-templates/{made['id']}"
    locked = marketing.patch(path, json={"amount": 5000, "name": "新"})
    assert locked.status_code == 409
    assert locked.json()["code"] == "template_locked"
    assert locked.json()["fields"] == ["amount"]
    changed = marketing.patch(path, json={"status": "paused", "total_stock": 150, "name": "新"})
    assert changed.status_code == 200
    assert (changed.json()["status"], changed.json()["total_stock"]) == ("paused", 150)
    assert marketing.patch(path, json={"status": "ended"}).status_code == 200
    final = marketing.patch(path, json={"status": "active"})
    assert (final.status_code, final.json()["code"]) == (409, "template_status_change")


def test_a_patch_null_of_a_required_field_is_refused(marketing: TestClient) -> None:
    made = create(marketing)
    response = marketing.patch(f"/api/v1/coupon-templates/{made['id']}", json={"name": None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "missing"


def test_a_patch_null_clears_an_optional_value_of_a_draft(marketing: TestClient) -> None:
    made = create(marketing, total_stock=10)
    response = marketing.patch(f"/api/v1/coupon-templates/{made['id']}", json={"total_stock": None})
    assert response.json()["total_stock"] is None


def test_store_staff_read_templates_but_do_not_design_them(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    headers = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    assert client.get("/api/v1/coupon-templates", headers=headers).status_code == 200
    refused = client.post("/api/v1/coupon-templates", json=BODY, headers=headers)
    assert refused.status_code == 403


def test_unknown_template_is_404(marketing: TestClient) -> None:
    response = marketing.get("/api/v1/coupon-templates/999999")
    assert (response.status_code, response.json()["code"]) == (404, "coupon_template_not_found")
