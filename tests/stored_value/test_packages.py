"""What a package recharge gives beside money, and what its refunds take back: the package's
coupons issued in full or not at all, voided by a cooling-off refund; an account refund ending
the extras as it ends the bonus; a recharge drawn on by an account refund not refundable."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.count_cards import products, uses
from patron.count_cards.models import CountCard
from patron.coupons import gifting
from patron.coupons.models import Coupon, CouponEvent
from patron.points import adjustments as points_adjustments
from patron.points.models import PointsAccount
from patron.stored_value import adjustments, packages, recharges
from patron.stored_value.errors import PackageCouponsUnavailable, RechargeUsed
from patron.stored_value.models import Recharge, StoredValueAccount, StoredValueEntry
from tests.factories import make_coupon_template, make_member, make_staff, make_store, staff_headers

CASH = recharges.Payment("cash", "")
WASH = {"name": "洗车3次", "service": "car wash", "uses": 3, "validity_days": 30, "price": 9000}


@pytest.fixture
def bought(session: Session) -> dict[str, Any]:
    """A member who bought 充500送50 with two coupons, two wash cards and 800 points."""
    store = make_store(session)
    member = make_member(session, store)
    product = products.save_product(session, SYSTEM, WASH)
    template = make_coupon_template(session, transferable=True)
    package = packages.save_package(
        session,
        SYSTEM,
        {
            "name": "充500送50+券+洗车",
            "pay": 50000,
            "bonus": 5000,
            "coupons": [{"template_id": template.id, "count": 2}],
            "count_cards": [{"product_id": product.id, "count": 2}],
            "points": 800,
        },
    )
    record = recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=package.id)
    return {"store": store, "member": member, "recharge": record, "package": package}


def coupons_of(session: Session, member_id: int) -> list[tuple[str, int]]:
    session.expire_all()
    rows = session.execute(
        select(Coupon.status, Coupon.member_id)
        .where(Coupon.source_ref.like("recharge:%"))
        .order_by(Coupon.id)
    )
    return [(status, holder) for status, holder in rows]


def holdings(session: Session, member_id: int) -> tuple[int, int, list[int]]:
    """Stored value, points available, and the uses left on each card."""
    session.expire_all()
    account = session.get(StoredValueAccount, member_id)
    points = session.get(PointsAccount, member_id)
    left = session.scalars(
        select(CountCard.uses_left).where(CountCard.member_id == member_id).order_by(CountCard.id)
    ).all()
    return (
        account.principal + account.bonus if account else 0,
        points.available if points else 0,
        list(left),
    )


def test_a_cooling_off_refund_voids_the_package_coupons(
    session: Session, bought: dict[str, Any]
) -> None:
    member, record = bought["member"], bought["recharge"]
    recharges.refund_recharge(session, SYSTEM, record.id)
    assert coupons_of(session, member.id) == [("void", member.id)] * 2
    events = session.scalars(select(CouponEvent.kind).where(CouponEvent.kind == "void")).all()
    assert len(events) == 2
    assert holdings(session, member.id) == (0, 0, [0, 0])


def test_a_package_coupon_given_away_makes_the_recharge_used(
    session: Session, bought: dict[str, Any]
) -> None:
    member, record = bought["member"], bought["recharge"]
    friend = make_member(session, bought["store"])
    first = session.scalars(select(Coupon).order_by(Coupon.id)).first()
    assert first is not None
    gifting.transfer_coupon(session, SYSTEM, first.code, friend.id)
    before = holdings(session, member.id)
    with pytest.raises(RechargeUsed, match="given away"):
        recharges.refund_recharge(session, SYSTEM, record.id)
    assert holdings(session, member.id) == before == (55000, 800, [3, 3])
    assert coupons_of(session, member.id) == [("available", friend.id), ("available", member.id)]
    session.refresh(record)
    assert record.status == "completed"


def test_a_package_whose_coupons_run_out_is_refused_whole(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    template = make_coupon_template(session, total_stock=1)
    package = packages.save_package(
        session,
        SYSTEM,
        {
            "name": "充500送2券",
            "pay": 50000,
            "bonus": 0,
            "coupons": [{"template_id": template.id, "count": 2}],
        },
    )
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    refused = client.post(
        f"/api/v1/members/{member.id}/stored-value/recharges",
        json={"store_id": store.id, "package_id": package.id, "payment": {"method": "cash"}},
        headers={**cashier, "Idempotency-Key": "p-1"},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "package_coupons_unavailable")
    counted = [
        session.scalar(select(func.count()).select_from(table))
        for table in (Recharge, StoredValueEntry, Coupon)
    ]
    assert counted == [0, 0, 0]
    session.refresh(template)
    assert template.issued_count == 0


def test_a_package_over_a_coupon_limit_is_refused(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    template = make_coupon_template(session, per_member_limit=1)
    package = packages.save_package(
        session,
        SYSTEM,
        {"name": "充100送券", "pay": 10000, "coupons": [{"template_id": template.id, "count": 1}]},
    )
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=package.id)
    with pytest.raises(PackageCouponsUnavailable):
        recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=package.id)


def test_an_account_refund_ends_the_package_extras_not_yet_used(
    session: Session, bought: dict[str, Any]
) -> None:
    member, store = bought["member"], bought["store"]
    friend = make_member(session, store)
    cards = session.scalars(select(CountCard).order_by(CountCard.id)).all()
    uses.use_card(session, SYSTEM, cards[0].id, store.id)
    given, kept = session.scalars(select(Coupon).order_by(Coupon.id)).all()
    gifting.transfer_coupon(session, SYSTEM, given.code, friend.id)
    recharges.refund_account(session, SYSTEM, member.id, store.id, "member leaves")
    # The used card keeps its two uses, the unused one is ended; the points are taken back.
    assert holdings(session, member.id) == (0, 0, [2, 0])
    assert coupons_of(session, member.id) == [("available", friend.id), ("void", member.id)]
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stored_value.account_refund")
    ).one()
    assert audit.after is not None
    assert {k: audit.after[k] for k in audit.after if k != "reason"} == {
        "principal_paid_out": 50000,
        "bonus_lapsed": 5000,
        "package_recharges": [bought["recharge"].id],
        "count_cards_voided": [cards[1].id],
        "coupons_voided": [kept.id],
        "points_kept_for_recharges": [],
    }
    # A second account refund ends nothing twice, and a later recharge's extras only.
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=bought["package"].id)
    recharges.refund_account(session, SYSTEM, member.id, store.id, "again")
    second = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "stored_value.account_refund")
        .order_by(AuditEntry.id.desc())
    ).first()
    assert second is not None
    assert second.after is not None
    assert len(second.after["package_recharges"]) == 1
    assert second.after["package_recharges"] != [bought["recharge"].id]
    assert len(second.after["coupons_voided"]) == 2


def test_an_account_refund_keeps_package_points_partly_spent(
    session: Session, bought: dict[str, Any]
) -> None:
    member, store = bought["member"], bought["store"]
    points_adjustments.request_adjustment(session, SYSTEM, member.id, -100, "used some")
    recharges.refund_account(session, SYSTEM, member.id, store.id, "member leaves")
    assert holdings(session, member.id) == (0, 700, [0, 0])
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stored_value.account_refund")
    ).one()
    assert audit.after is not None
    assert audit.after["points_kept_for_recharges"] == [bought["recharge"].id]


def test_a_recharge_before_an_account_refund_is_not_refunded_from_a_later_one(
    session: Session,
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    first = recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=20000)
    recharges.refund_account(session, SYSTEM, member.id, store.id, "paid out")
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=30000)
    with pytest.raises(RechargeUsed):
        recharges.refund_recharge(session, SYSTEM, first.id)
    assert holdings(session, member.id)[0] == 30000


def test_a_negative_adjustment_makes_the_recharge_used(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    first = recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=20000)
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=30000)
    adjustments.adjust(session, SYSTEM, member.id, store.id, -100, 0, "correction")
    with pytest.raises(RechargeUsed):
        recharges.refund_recharge(session, SYSTEM, first.id)


def test_another_recharges_cooling_off_refund_does_not_block_one(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    first = recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=20000)
    second = recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=30000)
    recharges.refund_recharge(session, SYSTEM, second.id)
    assert recharges.refund_recharge(session, SYSTEM, first.id).status == "refunded"
    assert holdings(session, member.id)[0] == 0
