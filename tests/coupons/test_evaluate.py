"""The coupon preview: each code's discount or refusal, the best of them, and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.catalog.models import Category, Product
from patron.core import clock
from patron.coupons.models import Coupon, CouponEvent
from tests.factories import (
    auth,
    issue_coupon,
    make_api_key,
    make_coupon_template,
    make_member,
    make_store,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now() -> Any:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def till(session: Session) -> dict[str, Any]:
    store = make_store(session)
    return {
        "store": store,
        "member": make_member(session, store),
        "headers": auth(make_api_key(session, [store])),
    }


def evaluate(client: TestClient, till: dict[str, Any], **fields: Any) -> Any:
    body = {
        "member_id": till["member"].id,
        "store_id": till["store"].id,
        "channel": "pos",
        "lines": [{"sku": "MILK-1", "category_code": "MILK", "quantity": 2, "unit_price": 6000}],
        "codes": [],
    } | fields
    return client.post("/api/v1/coupons/evaluate", json=body, headers=till["headers"])


def test_each_code_gets_its_discount_or_reason_and_the_best_is_named(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    member = till["member"]
    cash = issue_coupon(session, make_coupon_template(session), member)  # 满100减20
    percent = issue_coupon(
        session,
        make_coupon_template(
            session, type="percent_off", percent_off=25, max_discount=5000, amount=None
        ),
        member,
    )
    high = issue_coupon(session, make_coupon_template(session, threshold=50000), member)
    theirs = issue_coupon(session, make_coupon_template(session), make_member(session))
    before = [
        session.scalar(select(func.count()).select_from(t)) for t in (CouponEvent, AuditEntry)
    ]
    codes = [cash.code, percent.code, high.code, theirs.code, "NOSUCHCOUPON99"]
    response = evaluate(client, till, codes=codes)
    assert response.status_code == 200, response.json()
    answer = response.json()
    found = {c["code"]: (c["applies"], c["discount"], c["reason"]) for c in answer["coupons"]}
    assert found == {
        cash.code: (True, 2000, None),
        percent.code: (True, 3000, None),
        high.code: (False, 0, "below_threshold"),
        theirs.code: (False, 0, "other_member"),
        "NOSUCHCOUPON99": (False, 0, "unknown_coupon"),
    }
    assert answer["best"] == percent.code
    unavailable = {c["code"] for c in answer["coupons"] if c["unavailable"]}
    assert unavailable == {theirs.code, "NOSUCHCOUPON99"}
    after = [session.scalar(select(func.count()).select_from(t)) for t in (CouponEvent, AuditEntry)]
    assert after == before
    statuses = session.scalars(select(Coupon.status).where(Coupon.code.in_(codes))).all()
    assert set(statuses) == {"available"}


def test_stacking_and_the_moment_are_the_callers(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    template = make_coupon_template(
        session, stacks_with_points=False, stacks_with_tier_discount=False
    )
    code = issue_coupon(session, template, till["member"]).code
    reasons = [
        evaluate(client, till, codes=[code], **fields).json()["coupons"][0]["reason"]
        for fields in (
            {"points_pay": True},
            {"tier_discount": True},
            {"occurred_at": "2028-01-01T10:00:00+08:00"},
            {"member_id": None},
        )
    ]
    assert reasons == ["not_with_points", "not_with_tier_discount", "expired", "no_member"]
    assert evaluate(client, till, codes=[code]).json()["best"] == code


def test_a_known_product_counts_in_its_catalog_category(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    """The line says FOOD, the catalog says MILK: the catalog is what the order will record."""
    category = Category(code="MILK", name="奶粉")
    session.add(category)
    session.flush()
    session.add(Product(sku="MILK-1", name="奶粉", category_id=category.id, list_price=6000))
    session.flush()
    template = make_coupon_template(session, scope={"category_codes": ["MILK"]})
    code = issue_coupon(session, template, till["member"]).code
    line = {"sku": "MILK-1", "category_code": "FOOD", "quantity": 2, "unit_price": 6000}
    answer = evaluate(client, till, codes=[code], lines=[line]).json()
    assert answer["coupons"][0]["discount"] == 2000


def test_a_store_outside_the_callers_is_refused(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    other = make_store(session)
    response = evaluate(client, till, store_id=other.id, codes=["ANYCODE123456"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "unknown_store"


def test_a_line_discount_above_its_price_is_refused(
    client: TestClient, till: dict[str, Any]
) -> None:
    line = {"sku": "A", "quantity": 1, "unit_price": 100, "discount": 101}
    response = evaluate(client, till, codes=["ANYCODE123456"], lines=[line])
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "discount_exceeds_price"


def test_the_preview_path_allows_post_only(client: TestClient, till: dict[str, Any]) -> None:
    """/coupons/evaluate also fits /coupons/{code}, whose GET does not take it."""
    response = client.options("/api/v1/coupons/evaluate", headers=till["headers"])
    assert (response.status_code, response.headers["Allow"]) == (405, "POST")
