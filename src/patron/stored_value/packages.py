"""Recharge packages: pay P, receive P + bonus B (充500送50), optionally with coupons, count
cards and points."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.count_cards.errors import ProductNotActive, ProductNotFound
from patron.count_cards.products import on_sale
from patron.coupons.errors import TemplateNotFound
from patron.coupons.templates import get_template
from patron.stored_value.errors import (
    PackageLimitReached,
    PackageNotAvailable,
    PackageNotFound,
)
from patron.stored_value.models import PackageStatus, Recharge, RechargePackage, RechargeStatus
from patron.stored_value.permissions import EDIT_PACKAGES
from patron.stored_value.schemas import NOT_NULLABLE

FIELDS = (
    "name",
    "pay",
    "bonus",
    "coupons",
    "count_cards",
    "points",
    "valid_from",
    "valid_until",
    "per_member_limit",
    "status",
)


def list_packages(session: Session) -> list[RechargePackage]:
    return list(session.scalars(select(RechargePackage).order_by(RechargePackage.id)))


def get_package(session: Session, package_id: int) -> RechargePackage:
    package = session.get(RechargePackage, package_id)
    if package is None:
        raise PackageNotFound(f"no recharge package {package_id}")
    return package


def save_package(
    session: Session, actor: Actor, values: dict[str, Any], package_id: int | None = None
) -> RechargePackage:
    """Create a package, or change the given fields of one (recharges keep what they got)."""
    EDIT_PACKAGES.check(actor)
    for field in values.keys() & set(NOT_NULLABLE):
        if values[field] is None:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    package = RechargePackage() if package_id is None else get_package(session, package_id)
    before = None if package_id is None else _snapshot(package)
    for key, value in values.items():
        setattr(package, key, value)
    _check(session, package)
    # Only cards being set: a product taken off sale later does not block other edits.
    for index, card in enumerate(values.get("count_cards") or []):
        _check_card_product(session, index, card["product_id"])
    session.add(package)
    session.flush()
    audit.record(
        session,
        actor,
        "stored_value.package_create" if before is None else "stored_value.package_update",
        "recharge_package",
        package.id,
        before=before,
        after=_snapshot(package),
    )
    return package


def _check(session: Session, package: RechargePackage) -> None:
    if (package.points or 0) < 0:
        raise InvalidInput("points", "a package grants no negative points", code=Reason.too_small)
    if (
        package.valid_from is not None
        and package.valid_until is not None
        and package.valid_until <= package.valid_from
    ):
        raise InvalidInput(
            "valid_until", "a package ends after it starts", code=Reason.out_of_range
        )
    for index, coupon in enumerate(package.coupons or []):
        try:
            get_template(session, coupon["template_id"])
        except TemplateNotFound as exc:
            raise InvalidInput(
                f"coupons.{index}.template_id",
                f"no coupon template {coupon['template_id']}",
                code=Reason.unknown_template,
            ) from exc


def _check_card_product(session: Session, index: int, product_id: int) -> None:
    """A package gives cards of an existing product on sale."""
    field = f"count_cards.{index}.product_id"
    try:
        on_sale(session, product_id)
    except ProductNotFound as exc:
        raise InvalidInput(
            field, f"no count-card product {product_id}", code=Reason.unknown_card_product
        ) from exc
    except ProductNotActive as exc:
        raise InvalidInput(
            field,
            f"count-card product {product_id} is not active",
            code=Reason.card_product_inactive,
        ) from exc


def _snapshot(package: RechargePackage) -> dict[str, Any]:
    values = {k: getattr(package, k) for k in FIELDS}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def check_available(
    session: Session, package: RechargePackage, member_id: int, now: datetime
) -> None:
    """Active, within its window, and under its per-member limit (refunded recharges do not
    count). Called under the member's account lock, so two recharges cannot both pass."""
    if (
        package.status != PackageStatus.active
        or (package.valid_from is not None and now < package.valid_from)
        or (package.valid_until is not None and now >= package.valid_until)
    ):
        raise PackageNotAvailable(f"package {package.id} cannot be bought now")
    if package.per_member_limit is None:
        return
    bought = session.scalar(
        select(func.count()).where(
            Recharge.package_id == package.id,
            Recharge.member_id == member_id,
            Recharge.status == RechargeStatus.completed.value,
        )
    )
    if (bought or 0) >= package.per_member_limit:
        raise PackageLimitReached(
            f"member {member_id} has bought package {package.id} {bought} times",
            limit=package.per_member_limit,
        )
