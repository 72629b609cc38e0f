"""Recharge packages that give count cards and points, and their cooling-off refund."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.count_cards import cards, products, uses
from patron.count_cards.models import CountCard
from patron.points import adjustments, queries
from patron.points.models import PointsAccount, PointsEntry
from patron.stored_value import packages, recharges
from patron.stored_value.errors import RechargeUsed
from patron.stored_value.models import StoredValueAccount
from tests.factories import make_member, make_staff, make_store, staff_headers

CASH = recharges.Payment("cash", "")
WASH = {"name": "洗车3次", "service": "car wash", "uses": 3, "validity_days": 30, "price": 9000}


def balances(session: Session, member_id: int) -> tuple[int, int, int]:
    session.expire_all()
    account = session.get(StoredValueAccount, member_id)
    points = session.get(PointsAccount, member_id)
    left = session.scalar(
        select(func.coalesce(func.sum(CountCard.uses_left), 0)).where(
            CountCard.member_id == member_id
        )
    )
    return (
        account.principal + account.bonus if account else 0,
        points.available if points else 0,
        int(left or 0),
    )


@pytest.fixture
def bought(session: Session) -> dict[str, Any]:
    """A member who bought 充500送50 with two 3-use wash cards and 800 points."""
    store = make_store(session)
    member = make_member(session, store)
    product = products.save_product(session, SYSTEM, WASH)
    package = packages.save_package(
        session,
        SYSTEM,
        {
            "name": "充500送50",
            "pay": 50000,
            "bonus": 5000,
            "count_cards": [{"product_id": product.id, "count": 2}],
            "points": 800,
        },
    )
    record = recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=package.id)
    return {"store": store, "member": member, "product": product, "recharge": record}


def test_a_package_recharge_gives_its_cards_at_no_price_and_grants_its_points(
    session: Session, bought: dict[str, Any]
) -> None:
    member, record = bought["member"], bought["recharge"]
    views = cards.cards_of_member(session, SYSTEM, member.id)
    assert [(v.card.price, v.card.payment_method, v.card.recharge_id) for v in views] == [
        (0, "package", record.id)
    ] * 2
    assert {v.status.value for v in views} == {"available"}
    assert balances(session, member.id) == (55000, 800, 6)
    grant = session.scalars(select(PointsEntry).where(PointsEntry.member_id == member.id)).one()
    assert (grant.kind, grant.points) == ("grant", 800)
    assert grant.reason.endswith(f"[recharge:{record.id}]")
    assert queries.verify(session) == []


def test_a_cooling_off_refund_voids_the_cards_and_takes_the_points_back(
    session: Session, bought: dict[str, Any]
) -> None:
    member, record = bought["member"], bought["recharge"]
    recharges.refund_recharge(session, SYSTEM, record.id)
    assert balances(session, member.id) == (0, 0, 0)
    assert {v.status.value for v in cards.cards_of_member(session, SYSTEM, member.id)} == {"void"}
    kinds = session.scalars(
        select(PointsEntry.kind).where(PointsEntry.member_id == member.id).order_by(PointsEntry.id)
    ).all()
    assert kinds == ["grant", "grant_reversal"]
    assert queries.verify(session) == []
    card = cards.cards_of_member(session, SYSTEM, member.id)[0].card
    with pytest.raises(Exception, match="voided") as refused:
        uses.use_card(session, SYSTEM, card.id, bought["store"].id)
    assert getattr(refused.value, "code", None) == "card_void"


def test_a_used_package_card_makes_the_refund_recharge_used_until_the_use_is_revoked(
    session: Session, bought: dict[str, Any]
) -> None:
    member, record = bought["member"], bought["recharge"]
    card = cards.cards_of_member(session, SYSTEM, member.id)[0].card
    used = uses.use_card(session, SYSTEM, card.id, bought["store"].id)
    before = balances(session, member.id)
    with pytest.raises(RechargeUsed):
        recharges.refund_recharge(session, SYSTEM, record.id)
    assert balances(session, member.id) == before == (55000, 800, 5)
    uses.revoke_use(session, SYSTEM, card.id, used.use.id)
    assert recharges.refund_recharge(session, SYSTEM, record.id).status == "refunded"


def test_spent_granted_points_make_the_refund_recharge_used(
    session: Session, bought: dict[str, Any]
) -> None:
    member, record = bought["member"], bought["recharge"]
    adjustments.request_adjustment(session, SYSTEM, member.id, -100, "used some")
    before = balances(session, member.id)
    with pytest.raises(RechargeUsed):
        recharges.refund_recharge(session, SYSTEM, record.id)
    assert balances(session, member.id) == before == (55000, 700, 6)
    assert {v.status.value for v in cards.cards_of_member(session, SYSTEM, member.id)} == {
        "available"
    }


def test_package_cards_must_name_active_products(
    client: TestClient, session: Session, settings: Settings
) -> None:
    marketing = staff_headers(make_staff(session, Role.hq_marketing), settings)
    active = products.save_product(session, SYSTEM, WASH)
    retired = products.save_product(session, SYSTEM, {**WASH, "active": False})
    base = {"name": "充1000送100", "pay": 100000, "bonus": 10000}

    def create(**fields: Any) -> Any:
        return client.post(
            "/api/v1/stored-value/packages", json={**base, **fields}, headers=marketing
        )

    for cards_, code in (
        ([{"product_id": 99999, "count": 1}], "unknown_card_product"),
        ([{"product_id": retired.id, "count": 1}], "card_product_inactive"),
    ):
        refused = create(count_cards=cards_)
        assert refused.status_code == 422
        assert refused.json()["errors"][0] == {
            "field": "count_cards.0.product_id",
            "code": code,
            "message": refused.json()["errors"][0]["message"],
        }
    assert create(points=-1).status_code == 422
    made = create(count_cards=[{"product_id": active.id, "count": 1}], points=500)
    assert made.status_code == 201, made.text
    assert (made.json()["count_cards"], made.json()["points"]) == (
        [{"product_id": active.id, "count": 1}],
        500,
    )
    path = f"/api/v1/stored-value/packages/{made.json()['id']}"
    assert client.patch(path, json={"points": None}, headers=marketing).status_code == 422
    # A product taken off sale later does not block the package's other edits, but its
    # recharges are refused until the package changes.
    products.save_product(session, SYSTEM, {"active": False}, active.id)
    assert client.patch(path, json={"name": "新名"}, headers=marketing).status_code == 200
    store = make_store(session)
    member = make_member(session, store)
    body = {"store_id": store.id, "package_id": made.json()["id"], "payment": {"method": "cash"}}
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    refused = client.post(
        f"/api/v1/members/{member.id}/stored-value/recharges",
        json=body,
        headers={**admin, "Idempotency-Key": "r"},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "product_not_active")
    assert balances(session, member.id) == (0, 0, 0)


def test_a_package_recharge_and_its_refund_over_http(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    product = products.save_product(session, SYSTEM, WASH)
    package = packages.save_package(
        session,
        SYSTEM,
        {"name": "充500", "pay": 50000, "count_cards": [{"product_id": product.id, "count": 1}]}
        | {"points": 300},
    )
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    body = {"store_id": store.id, "package_id": package.id, "payment": {"method": "cash"}}
    made = client.post(
        f"/api/v1/members/{member.id}/stored-value/recharges",
        json=body,
        headers={**cashier, "Idempotency-Key": "r-1"},
    )
    assert made.status_code == 201, made.text
    held = client.get(f"/api/v1/members/{member.id}/count-cards", headers=cashier).json()
    assert [(c["recharge_id"], c["price"], c["status"]) for c in held] == [
        (made.json()["id"], 0, "available")
    ]
    assert balances(session, member.id) == (50000, 300, 3)
    refund = f"/api/v1/stored-value/recharges/{made.json()['id']}/refund"
    assert client.post(refund, headers=manager).status_code == 200
    held = client.get(f"/api/v1/members/{member.id}/count-cards", headers=cashier).json()
    assert [(c["uses_left"], c["status"]) for c in held] == [(0, "void")]
    assert balances(session, member.id) == (0, 0, 0)
