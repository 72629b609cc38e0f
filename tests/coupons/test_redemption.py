"""Coupons redeemed with orders through the API: what is written, every refusal (which writes
nothing), and the coupon's return when its order is refunded in full."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.settings import get_settings
from patron.coupons import jobs as coupon_jobs
from patron.coupons import redemption
from patron.coupons.errors import CouponUnavailable
from patron.coupons.models import Coupon, CouponEvent, CouponTemplate
from patron.orders.models import Order
from patron.points.models import PointsEntry
from tests.factories import (
    auth,
    issue_coupon,
    make_api_key,
    make_coupon_template,
    make_member,
    make_store,
    order_body,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)  # the orders occur on 2026-01-05
VALIDITY = {
    "valid_days": None,
    "valid_from": "2025-12-01T00:00:00+08:00",
    "valid_until": "2026-12-31T23:59:59+08:00",
}


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


def coupon_for(session: Session, member: Any, **template: object) -> Coupon:
    """A coupon of a 满100减20 template unless `template` says otherwise."""
    return issue_coupon(session, make_coupon_template(session, **(VALIDITY | template)), member)


def line(sku: str, price: int, discount: int = 0, quantity: int = 1, **kw: object) -> Any:
    return {
        "sku": sku,
        "name": sku,
        "category_code": kw.get("category", "CARE"),
        "quantity": quantity,
        "unit_price": price,
        "discount": discount,
        "paid": quantity * price - discount,
    }


def body(till: dict[str, Any], items: list[Any], coupons: list[Any], **fields: Any) -> Any:
    paid = sum(i["paid"] for i in items)
    values = {
        "member_id": till["member"].id,
        "items": items,
        "payments": [{"method": "cash", "amount": paid}],
        "coupons": coupons,
    }
    return order_body(till["store"], **(values | fields))


def post(client: TestClient, till: dict[str, Any], data: Any) -> Any:
    headers = {**till["headers"], "Idempotency-Key": str(data["external_id"])}
    return client.post("/api/v1/orders", json=data, headers=headers)


def refund_all(client: TestClient, till: dict[str, Any], order_id: int) -> Any:
    headers = {**till["headers"], "Idempotency-Key": f"refund-{order_id}"}
    return client.post(f"/api/v1/orders/{order_id}/refunds", json={"all": True}, headers=headers)


def written(session: Session) -> tuple[int, int, int]:
    """Orders, coupon events and audit entries: what a refusal must leave as it was."""
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(t)) or 0
        for t in (Order, CouponEvent, AuditEntry)
    )


def test_an_order_redeems_its_coupon(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    coupon = coupon_for(session, till["member"])
    data = body(till, [line("SKU-1", 15000, 2000)], [{"code": coupon.code, "amount": 2000}])
    response = post(client, till, data)
    assert response.status_code == 201, response.json()
    order_id = response.json()["id"]
    session.refresh(coupon)
    assert (coupon.status, coupon.order_id, coupon.discount) == ("redeemed", order_id, 2000)
    assert (coupon.redeemed_store_id, coupon.redeemed_at) == (till["store"].id, NOW)
    event = session.scalars(select(CouponEvent).where(CouponEvent.coupon_id == coupon.id)).one()
    assert (event.kind, event.order_id, event.from_member_id) == (
        "redeem",
        order_id,
        till["member"].id,
    )
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "coupon.redeem")).one()
    assert entry.entity_id == str(coupon.id)
    assert entry.after == {"code": coupon.code, "order_id": order_id, "discount": 2000}


def test_an_order_sent_again_is_an_existing_order_not_a_used_coupon(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    coupon = coupon_for(session, till["member"])
    data = body(till, [line("SKU-1", 15000, 2000)], [{"code": coupon.code, "amount": 2000}])
    order_id = post(client, till, data).json()["id"]
    headers = {**till["headers"], "Idempotency-Key": "another key"}
    again = client.post("/api/v1/orders", json=data, headers=headers)
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["order_id"]) == ("order_exists", order_id)


def test_points_are_earned_on_the_amount_paid_after_the_coupon(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    coupon = coupon_for(session, till["member"])
    data = body(till, [line("SKU-1", 15000, 2000)], [{"code": coupon.code, "amount": 2000}])
    assert post(client, till, data).status_code == 201
    earned = session.scalars(select(PointsEntry.points).where(PointsEntry.kind == "earn")).one()
    assert earned == 130  # ¥130 paid, not the ¥150 before the coupon


def test_the_threshold_counts_the_amount_before_the_coupon(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    """¥100 of goods less ¥20 off pays ¥80, and still meets 满100."""
    coupon = coupon_for(session, till["member"])
    data = body(till, [line("SKU-1", 10000, 2000)], [{"code": coupon.code, "amount": 2000}])
    assert post(client, till, data).status_code == 201


def test_percent_off_and_gift_take_at_most_what_they_give(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    percent = coupon_for(
        session, till["member"], type="percent_off", percent_off=15, max_discount=3000, amount=None
    )
    items = [line("SKU-1", 10000, 1000)]  # 15% of ¥100 would be ¥15: ¥10 is less, and fine
    assert post(
        client, till, body(till, items, [{"code": percent.code, "amount": 1000}])
    ).is_success
    gift = coupon_for(
        session, till["member"], type="gift", gift_sku="CAKE", threshold=0, amount=None
    )
    items = [line("SKU-1", 5000), line("CAKE", 1500, 1500)]
    response = post(client, till, body(till, items, [{"code": gift.code, "amount": 1500}]))
    assert response.status_code == 201, response.json()


REFUSALS = [
    # (what the case does, status, reason)
    ("used", 409, "redeemed"),
    ("expired", 409, "expired"),
    ("void", 409, "void"),
    ("someone_elses", 409, "other_member"),
    ("no_member", 409, "no_member"),
    ("unknown", 409, "unknown_coupon"),
    ("below_threshold", 422, "below_threshold"),
    ("out_of_scope", 422, "out_of_scope"),
    ("store", 422, "store_not_in_scope"),
    ("amount_mismatch", 422, "amount_mismatch"),
    ("amount_too_large", 422, "amount_too_large"),
    ("points", 422, "not_with_points"),
    ("tier_discount", 422, "not_with_tier_discount"),
    ("two_coupons", 422, "too_many_coupons"),
    ("exceeds_discounts", 422, "amount_exceeds_discounts"),
]


@pytest.mark.parametrize(("case", "status", "reason"), REFUSALS)
def test_a_refused_coupon_writes_nothing(
    client: TestClient,
    session: Session,
    till: dict[str, Any],
    case: str,
    status: int,
    reason: str,
) -> None:
    member = till["member"]
    coupon = coupon_for(session, member)
    amount = 2000
    items = [line("SKU-1", 15000, 2000)]
    fields: dict[str, Any] = {}
    if case == "used":
        first = body(till, items, [{"code": coupon.code, "amount": 2000}])
        assert post(client, till, first).status_code == 201
        fields["external_id"] = "AGAIN"
    elif case == "expired":
        coupon.valid_until = datetime(2026, 1, 1, tzinfo=UTC)
    elif case == "void":
        coupon.status = "void"
    elif case == "someone_elses":
        fields["member_id"] = make_member(session, till["store"]).id
    elif case == "no_member":
        fields["member_id"] = None
    elif case == "below_threshold":
        items = [line("SKU-1", 9999, 2000)]
    elif case == "out_of_scope":
        coupon = coupon_for(session, member, scope={"category_codes": ["FOOD"]})
    elif case == "store":
        coupon = coupon_for(session, member, scope={"exclude_store_ids": [till["store"].id]})
    elif case == "amount_mismatch":
        amount, items = 1000, [line("SKU-1", 15000, 1000)]
    elif case == "amount_too_large":
        coupon = coupon_for(
            session, member, type="percent_off", percent_off=10, max_discount=1000, amount=None
        )
    elif case == "points":
        coupon = coupon_for(session, member, stacks_with_points=False)
        fields["payments"] = [
            {"method": "points", "amount": 100},
            {"method": "cash", "amount": 12900},
        ]
    elif case == "tier_discount":
        coupon = coupon_for(session, member, stacks_with_tier_discount=False)
        fields["tier_discount"] = True
    elif case == "two_coupons":
        other = coupon_for(session, member)
        fields["coupons"] = [
            {"code": coupon.code, "amount": 1000},
            {"code": other.code, "amount": 1000},
        ]
    elif case == "exceeds_discounts":
        items = [line("SKU-1", 15000, 1000)]
    session.flush()
    code = "NOSUCHCOUPON99" if case == "unknown" else coupon.code
    data = body(till, items, [{"code": code, "amount": amount}]) | fields
    before = written(session)
    status_before = session.scalar(select(Coupon.status).where(Coupon.id == coupon.id))
    response = post(client, till, data)
    assert response.status_code == status, response.json()
    problem = response.json()
    expected = "coupon_unavailable" if status == 409 else "coupon_not_applicable"
    assert (problem["code"], problem["reason"]) == (expected, reason)
    assert problem["coupon"] in {code, *(c["code"] for c in data["coupons"])}
    assert written(session) == before
    session.expire_all()
    assert session.scalar(select(Coupon.status).where(Coupon.id == coupon.id)) == status_before


def test_exclusive_goes_alone_even_where_two_are_allowed(
    client: TestClient, session: Session, till: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    two = get_settings().model_copy(update={"coupons_per_order": 2})
    monkeypatch.setattr(redemption, "get_settings", lambda: two)
    member = till["member"]
    a, b = coupon_for(session, member), coupon_for(session, member, exclusive=True)
    items = [line("SKU-1", 30000, 4000)]
    claims = [{"code": a.code, "amount": 2000}, {"code": b.code, "amount": 2000}]
    response = post(client, till, body(till, items, claims))
    assert (response.status_code, response.json()["reason"]) == (422, "exclusive")
    c = coupon_for(session, member)
    claims[1]["code"] = c.code
    response = post(client, till, body(till, items, claims, external_id="TWO"))
    assert response.status_code == 201, response.json()


def redeemed_order(client: TestClient, session: Session, till: dict[str, Any], **t: Any) -> Any:
    coupon = coupon_for(session, till["member"], **t)
    data = body(
        till, [line("SKU-1", 15000, 2000, quantity=1)], [{"code": coupon.code, "amount": 2000}]
    )
    response = post(client, till, data)
    assert response.status_code == 201
    return coupon, response.json()


def test_a_full_refund_returns_the_coupon(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    coupon, order = redeemed_order(client, session, till)
    assert refund_all(client, till, order["id"]).status_code == 201
    session.refresh(coupon)
    assert (coupon.status, coupon.order_id, coupon.discount, coupon.redeemed_at) == (
        "available",
        None,
        None,
        None,
    )
    kinds = session.execute(
        select(CouponEvent.kind, CouponEvent.order_id)
        .where(CouponEvent.coupon_id == coupon.id)
        .order_by(CouponEvent.id)
    ).all()
    assert [tuple(k) for k in kinds] == [("redeem", order["id"]), ("return", order["id"])]
    again = body(till, [line("SKU-1", 15000, 2000)], [{"code": coupon.code, "amount": 2000}])
    assert post(client, till, again | {"external_id": "AGAIN"}).status_code == 201


def test_a_coupon_past_its_validity_returns_expired(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    coupon, order = redeemed_order(client, session, till)
    coupon.valid_until = datetime(2026, 2, 1, tzinfo=UTC)  # after the order, before the refund
    session.flush()
    assert refund_all(client, till, order["id"]).status_code == 201
    session.refresh(coupon)
    assert (coupon.status, coupon.order_id) == ("expired", None)


def test_a_partial_refund_or_a_never_template_keeps_the_coupon_used(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    coupon = coupon_for(session, till["member"])
    items = [line("SKU-1", 15000, 2000), line("SKU-2", 1000)]
    response = post(client, till, body(till, items, [{"code": coupon.code, "amount": 2000}]))
    order = response.json()
    headers = {**till["headers"], "Idempotency-Key": "partial"}
    partial = {"items": [{"line_id": order["items"][1]["id"], "quantity": 1}]}
    url = f"/api/v1/orders/{order['id']}/refunds"
    assert client.post(url, json=partial, headers=headers).status_code == 201
    session.refresh(coupon)
    assert coupon.status == "redeemed"
    kept, order = redeemed_order(client, session, till, return_on_refund="never")
    assert refund_all(client, till, order["id"]).status_code == 201
    session.refresh(kept)
    assert (kept.status, kept.order_id) == ("redeemed", order["id"])
    assert session.get(CouponTemplate, kept.template_id) is not None


def test_the_update_takes_a_coupon_only_while_available(
    session: Session, till: dict[str, Any]
) -> None:
    """A coupon checked available and then taken by another order before this one's update
    (the race the PostgreSQL test runs): the update takes nothing and the order is refused."""
    from patron.core.actor import SYSTEM

    coupon = coupon_for(session, till["member"])
    checked = redemption.Redemption(coupon.id, coupon.code, till["member"].id, 2000)
    coupon.status = "redeemed"
    session.flush()
    with pytest.raises(CouponUnavailable) as refused:
        redemption.redeem(session, SYSTEM, [checked], 1, till["store"].id, clock.now())
    assert refused.value.extra["reason"] == "redeemed"
    assert session.scalar(select(func.count()).select_from(CouponEvent)) == 0


def test_an_order_made_before_expiry_redeems_a_coupon_the_job_marked_expired(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    """An offline till sends an order of 5 January after the coupon ran out and the job ran."""
    with clock.frozen(datetime(2026, 1, 2, 2, tzinfo=UTC)):
        coupon = coupon_for(session, till["member"], valid_until="2026-01-31T23:59:59+08:00")
        late = coupon_for(session, till["member"], valid_until="2026-01-04T23:59:59+08:00")
    coupon_jobs.run(session, NOW)
    session.refresh(coupon)
    assert coupon.status == "expired"
    claim = [{"code": coupon.code.lower(), "amount": 2000}]
    response = post(client, till, body(till, [line("SKU-1", 15000, 2000)], claim))
    assert response.status_code == 201, response.json()
    session.refresh(coupon)
    assert (coupon.status, coupon.order_id) == ("redeemed", response.json()["id"])
    claim = [{"code": late.code, "amount": 2000}]
    refused = post(client, till, body(till, [line("SKU-1", 15000, 2000)], claim))
    assert (refused.status_code, refused.json()["reason"]) == (409, "expired")


def test_a_discount_taken_off_a_line_outside_the_scope_is_refused(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    coupon = coupon_for(
        session, till["member"], type="voucher", threshold=0, amount=2000, scope={"skus": ["A"]}
    )
    items = [line("A", 1000), line("B", 100000, 2000)]
    before = written(session)
    response = post(client, till, body(till, items, [{"code": coupon.code, "amount": 2000}]))
    assert response.status_code == 422
    assert response.json()["reason"] == "amount_too_large"
    assert written(session) == before
