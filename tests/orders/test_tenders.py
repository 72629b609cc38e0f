"""Orders paid in part with points and stored value: the points burned in the order's
transaction, the tenders named or spread per line, and refunds giving back per line."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from patron.orders.models import OrderLine, OrderPayment
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points.models import EntryKind, PointsEntry
from tests.factories import (
    auth,
    make_api_key,
    make_member,
    make_staff,
    make_store,
    order_body,
    staff_headers,
)


@pytest.fixture
def till(session: Session) -> dict[str, Any]:
    store = make_store(session)
    return {
        "store": store,
        "member": make_member(session, store),
        "headers": auth(make_api_key(session, [store])),
    }


def post(client: TestClient, till: dict[str, Any], body: dict[str, Any], key: str) -> Any:
    headers = {**till["headers"], "Idempotency-Key": key}
    return client.post("/api/v1/orders", json=body, headers=headers)


def earn(client: TestClient, till: dict[str, Any], fen: int) -> None:
    """fen // 100 points for the till's member."""
    items = [{"sku": "E-1", "name": "储物", "quantity": 1, "unit_price": fen, "paid": fen}]
    body = order_body(
        till["store"],
        member_id=till["member"].id,
        items=items,
        payments=[{"method": "cash", "amount": fen}],
    )
    assert post(client, till, body, f"earn-{fen}").status_code == 201


def points_body(till: dict[str, Any], external_id: str, points_fen: int, **fields: Any) -> Any:
    """The factory's ¥120 order (lines ¥90 CARE and ¥30 HOME) with `points_fen` paid by points."""
    payments = [{"method": "wechat_pay", "amount": 12000 - points_fen}]
    if points_fen:
        payments.append({"method": "points", "amount": points_fen})
    return order_body(
        till["store"], external_id, member_id=till["member"].id, payments=payments, **fields
    )


def available(session: Session, member_id: int) -> int:
    return points_queries.balance(session, member_id).available


def test_a_points_payment_burns_its_points_tied_to_the_order(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    earn(client, till, 500000)  # 5,000 points
    response = post(client, till, points_body(till, "P-1", 3000), "p-1")
    assert response.status_code == 201, response.json()
    order = response.json()
    burn = session.scalars(
        select(PointsEntry).where(PointsEntry.order_id == order["id"], PointsEntry.kind == "burn")
    ).one()
    assert burn.points == -3000
    assert burn.store_id == till["store"].id
    # 3,000 burned; 90 earned on the ¥90 paid by wechat
    assert available(session, till["member"].id) == 5000 - 3000 + 90
    # spread over the lines by what each may take: ¥90 and ¥30 at 50% each
    assert [line["points"] for line in order["items"]] == [2250, 750]
    assert [line["stored_value"] for line in order["items"]] == [0, 0]


@pytest.mark.parametrize(
    ("points_fen", "changes", "code"),
    [
        (50, {}, "below_min_burn"),
        (6001, {}, "exceeds_order_share"),
        (3000, {"max_points_per_order": 2000}, "exceeds_points_cap"),
        (4000, {"category_caps": {"CARE": 20}}, "exceeds_category_cap"),
        (1001, {"points_per_yuan_value": 50}, "points_not_whole_fen"),
    ],
)
def test_the_policy_refuses_a_points_payment_and_nothing_is_written(
    client: TestClient,
    session: Session,
    till: dict[str, Any],
    points_fen: int,
    changes: dict[str, Any],
    code: str,
) -> None:
    earn(client, till, 1000000)  # 10,000 points
    points_policy.update_policy(session, SYSTEM, changes)
    before = available(session, till["member"].id)
    orders = session.scalar(select(func.count()).select_from(OrderPayment))
    response = post(client, till, points_body(till, "P-1", points_fen), "p-1")
    assert response.status_code == 422, response.json()
    assert response.json()["errors"][0]["code"] == code
    assert available(session, till["member"].id) == before
    assert session.scalar(select(func.count()).select_from(OrderPayment)) == orders


def test_points_need_a_member_and_enough_of_them(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    anonymous = points_body(till, "P-1", 1000) | {"member_id": None}
    refused = post(client, till, anonymous, "p-1")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "points_need_member"
    earn(client, till, 50000)  # 500 points
    short = post(client, till, points_body(till, "P-2", 1000), "p-2")
    assert short.status_code == 409
    assert short.json()["code"] == "insufficient_points"
    assert session.scalar(select(func.count()).select_from(OrderLine)) == 1


def test_points_beside_a_coupon_only_if_the_policy_says_so(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    from tests.factories import issue_coupon, make_coupon_template

    earn(client, till, 500000)
    points_policy.update_policy(session, SYSTEM, {"combine_with_coupons": False})
    coupon = issue_coupon(session, make_coupon_template(session, amount=500), till["member"])
    body = points_body(till, "P-1", 1000, coupons=[{"code": coupon.code, "amount": 500}])
    body["items"][0] |= {"discount": 1480, "paid": 8500}
    body["payments"][0]["amount"] = 10500
    response = post(client, till, body, "p-1")
    assert response.status_code == 422, response.json()
    assert response.json()["errors"][0]["code"] == "points_not_with_coupons"


def test_a_retry_under_another_key_is_order_exists_not_short_of_points(
    client: TestClient, till: dict[str, Any]
) -> None:
    earn(client, till, 400000)  # 4,000 points
    first = post(client, till, points_body(till, "P-1", 3000), "p-1")
    assert first.status_code == 201
    again = post(client, till, points_body(till, "P-1", 3000), "p-2")
    assert again.status_code == 409
    assert again.json()["code"] == "order_exists"


def test_lines_that_name_their_tenders_must_add_up_to_the_payments(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    earn(client, till, 500000)
    body = points_body(till, "P-1", 2000)
    body["items"][0]["points"] = 1500
    body["items"][1]["points"] = 400
    refused = post(client, till, body, "p-1")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "tenders_mismatch"
    body["items"][1]["points"] = 500
    taken = post(client, till, body, "p-2")
    assert taken.status_code == 201, taken.json()
    assert [line["points"] for line in taken.json()["items"]] == [1500, 500]
    lines = session.scalars(
        select(OrderLine.points).where(OrderLine.order_id == taken.json()["id"])
    ).all()
    assert sorted(lines) == [500, 1500]


def test_no_order_records_points_as_paid_without_their_burn(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    """Every points payment on record has the burn of its points with its order."""
    earn(client, till, 500000)
    for n, fen in enumerate((1000, 2500, 6001, 9000)):  # the last two refused
        post(client, till, points_body(till, f"P-{n}", fen), f"p-{n}")
    post(client, till, points_body(till, "P-9", 100) | {"member_id": None}, "p-9")
    paid = dict(
        session.execute(
            select(OrderPayment.order_id, func.sum(OrderPayment.amount))
            .where(OrderPayment.method == "points")
            .group_by(OrderPayment.order_id)
        ).all()
    )
    burned = dict(
        session.execute(
            select(PointsEntry.order_id, -func.sum(PointsEntry.points))
            .where(PointsEntry.kind == EntryKind.burn.value, PointsEntry.order_id.is_not(None))
            .group_by(PointsEntry.order_id)
        ).all()
    )
    assert len(paid) == 2
    assert paid == burned  # at 100 points per yuan, a fen is a point


def test_the_policy_api_sets_and_lifts_the_points_caps(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = staff_headers(make_staff(session), settings)
    change = {"max_points_per_order": 2000, "category_caps": {"TOBACCO": 0, "CARE": 20}}
    changed = client.patch("/api/v1/points/policy", json=change, headers=admin)
    assert changed.status_code == 200, changed.json()
    assert {k: changed.json()[k] for k in (*change, "combine_with_coupons")} == change | {
        "combine_with_coupons": True
    }
    off = client.patch("/api/v1/points/policy", json={"combine_with_coupons": False}, headers=admin)
    assert off.json()["max_points_per_order"] == 2000
    assert off.json()["combine_with_coupons"] is False
    lifted = client.patch(
        "/api/v1/points/policy", json={"max_points_per_order": None}, headers=admin
    )
    assert lifted.json()["max_points_per_order"] is None
    assert lifted.json()["category_caps"] == change["category_caps"]
    bad = client.patch("/api/v1/points/policy", json={"category_caps": {"X": 101}}, headers=admin)
    assert bad.status_code == 422


def test_stored_value_is_spread_over_what_points_leave_and_a_line_refund_gives_its_share_back(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    from patron.stored_value import ledger, payments
    from patron.stored_value.models import StoredValueAccount

    member_id = till["member"].id
    earn(client, till, 500000)
    payments.set_password(session, SYSTEM, member_id, "246802")
    account = ledger.lock_accounts(session, [member_id])[member_id]
    ledger.post(session, account, ledger.EntryKind.recharge, 8000, 0, store_id=None, operator="t")
    ledger.post(session, account, ledger.EntryKind.bonus, 0, 2000, store_id=None, operator="t")
    body = points_body(till, "SV-1", 4000)
    body["payments"][0]["amount"] = 2000
    verification = {"password": "246802"}
    body["payments"].append(
        {"method": "stored_value", "amount": 6000, "verification": verification}
    )
    taken = post(client, till, body, "sv-1")
    assert taken.status_code == 201, taken.json()
    lines = taken.json()["items"]
    # points 4,000 by capacity (¥90 and ¥30 at 50%): 3,000 and 1,000; stored value over the
    # ¥60 and ¥20 they leave: 4,500 and 1,500
    assert [(ln["points"], ln["stored_value"]) for ln in lines] == [(3000, 4500), (1000, 1500)]
    before = available(session, member_id)
    refund = client.post(
        f"/api/v1/orders/{taken.json()['id']}/refunds",
        json={"items": [{"line_id": lines[1]["id"], "quantity": 3}]},
        headers={**till["headers"], "Idempotency-Key": "r-1"},
    )
    assert refund.status_code == 201, refund.json()
    held = session.get(StoredValueAccount, member_id, populate_existing=True)
    assert held is not None
    assert held.principal + held.bonus == 10000 - 6000 + 1500
    # The line's 1,000 points back. The order earned 68 (¥20 by wechat, ¥48 of stored-value
    # principal); refunding ¥30 of its ¥120 reverses a quarter of them.
    assert available(session, member_id) == before + 1000 - 68 * 3000 // 12000
