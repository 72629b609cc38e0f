"""A shop for the checkout tests: a store, a member with points, stored value, a tier discount
and a coupon."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.coupons.models import Coupon
from patron.members.models import Member
from patron.points import grants
from patron.stored_value import packages, recharges
from patron.stores.models import Store
from patron.tiers import ladder
from tests.factories import issue_coupon, make_coupon_template, make_member, make_store
from tests.tiers.helpers import make_ladder

CASH = recharges.Payment("cash", "")


@dataclass
class Shop:
    store: Store
    member: Member


def shop(session: Session) -> Shop:
    store = make_store(session)
    return Shop(store, make_member(session, store))


def give_points(session: Session, member: Member, points: int) -> None:
    grants.grant_points(
        session, SYSTEM, member.id, points, reason="test", store_id=None, source_ref="test"
    )


def load(session: Session, member: Member, store: Store, principal: int, bonus: int = 0) -> None:
    if not bonus:
        recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=principal)
        return
    package = packages.save_package(
        session, SYSTEM, {"name": f"充{principal}送{bonus}", "pay": principal, "bonus": bonus}
    )
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=package.id)


def tier_discount(session: Session, percent: int) -> None:
    """A ladder whose base tier gives every member `percent` off."""
    tiers = make_ladder(session)
    ladder.save_tier(session, SYSTEM, {"discount_percent": percent}, tiers[0].id)


def coupon(session: Session, member: Member, **template: Any) -> Coupon:
    return issue_coupon(session, make_coupon_template(session, **template), member)


def line(sku: str, quantity: int, unit_price: int, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": unit_price, **extra}


def basket(where: Shop, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "store_id": where.store.id,
        "channel": "pos",
        "member_id": where.member.id,
        "lines": list(lines) or [line("SKU-1", 2, 5000), line("SKU-2", 1, 3000)],
        **extra,
    }
