"""Mall items (HQ): a coupon, a product (picked up at a store or delivered) or a count card,
priced in points or points plus cash, with stock, a per-member limit, a validity window and a
least tier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.count_cards import products as count_card_products
from patron.count_cards.errors import ProductNotFound
from patron.coupons.errors import TemplateNotFound
from patron.coupons.templates import get_template
from patron.mall.errors import ItemNotFound
from patron.mall.models import ItemKind, MallItem
from patron.mall.permissions import MANAGE_ITEMS
from patron.mall.schemas import NOT_NULLABLE
from patron.tiers import ladder
from patron.tiers.errors import TierNotFound

FIELDS = (
    "kind",
    "name",
    "name_en",
    "description",
    "points_price",
    "cash_price",
    "coupon_template_id",
    "count_card_product_id",
    "fulfilment",
    "stock",
    "per_member_limit",
    "valid_from",
    "valid_until",
    "min_tier_id",
    "active",
)


def ways(item: MallItem) -> list[str]:
    """How a product may be received: pickup, delivery, or both."""
    return [way for way in item.fulfilment.split(",") if way]


def get_item(session: Session, item_id: int) -> MallItem:
    item = session.get(MallItem, item_id)
    if item is None:
        raise ItemNotFound(f"no mall item {item_id}")
    return item


def items_query(*, active_only: bool = False, kind: ItemKind | None = None) -> Select[Any]:
    query = select(MallItem)
    if active_only:
        query = query.where(MallItem.active.is_(True))
    if kind is not None:
        query = query.where(MallItem.kind == kind.value)
    return query


def list_items(
    session: Session,
    cursor: str | None,
    limit: int,
    *,
    active_only: bool = False,
    kind: ItemKind | None = None,
) -> PageResult[MallItem]:
    return paginate(
        session, items_query(active_only=active_only, kind=kind), MallItem.id, cursor, limit
    )


def on_offer(session: Session, now: datetime) -> list[MallItem]:
    """The active items within their validity window now, cheapest first."""
    query = (
        items_query(active_only=True)
        .where((MallItem.valid_from.is_(None)) | (MallItem.valid_from <= now))
        .where((MallItem.valid_until.is_(None)) | (MallItem.valid_until > now))
        .order_by(MallItem.points_price, MallItem.id)
    )
    return list(session.scalars(query))


def save_item(
    session: Session, actor: Actor, values: dict[str, Any], item_id: int | None = None
) -> MallItem:
    """Create an item, or change the given fields of one (its kind and what it gives stay)."""
    MANAGE_ITEMS.check(actor)
    for field in values.keys() & set(NOT_NULLABLE):
        if values[field] is None:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    if "fulfilment" in values:
        values["fulfilment"] = ",".join(
            sorted({str(w) for w in values["fulfilment"]}, reverse=True)
        )
    item = MallItem() if item_id is None else get_item(session, item_id)
    before = None if item_id is None else _snapshot(item)
    merged = ({k: getattr(item, k) for k in FIELDS} if before else {}) | values
    _check(session, merged)
    for key, value in values.items():
        setattr(item, key, value)
    if item_id is None:
        item.redeemed_count = 0
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor,
        "mall.item_create" if before is None else "mall.item_update",
        "mall_item",
        item.id,
        before=before,
        after=_snapshot(item),
    )
    return item


def deactivate(session: Session, actor: Actor, item_id: int) -> MallItem:
    return save_item(session, actor, {"active": False}, item_id)


def _check(session: Session, item: dict[str, Any]) -> None:
    kind = ItemKind(item["kind"])
    needs = {
        ItemKind.coupon: "coupon_template_id",
        ItemKind.count_card: "count_card_product_id",
        ItemKind.product: "fulfilment",
    }
    for field_kind, field in needs.items():
        if field_kind == kind and not item.get(field):
            raise InvalidInput(
                field, f"a {kind.value} item needs {field}", code=Reason.needed_for_type
            )
        if field_kind != kind and item.get(field):
            raise InvalidInput(field, f"not for a {kind.value} item", code=Reason.not_for_type)
    if item.get("coupon_template_id"):
        try:
            get_template(session, item["coupon_template_id"])
        except TemplateNotFound as exc:
            raise InvalidInput(
                "coupon_template_id", "no such coupon template", code=Reason.unknown_template
            ) from exc
    if item.get("count_card_product_id"):
        try:
            count_card_products.get_product(session, item["count_card_product_id"])
        except ProductNotFound as exc:
            raise InvalidInput(
                "count_card_product_id",
                "no such count-card product",
                code=Reason.unknown_card_product,
            ) from exc
    if item.get("min_tier_id"):
        try:
            ladder.get_tier(session, item["min_tier_id"])
        except TierNotFound as exc:
            raise InvalidInput("min_tier_id", "no such tier", code=Reason.unknown_tier) from exc
    start, end = item.get("valid_from"), item.get("valid_until")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("valid_until", "ends before it starts", code=Reason.dates_reversed)


def _snapshot(item: MallItem) -> dict[str, Any]:
    found = {k: getattr(item, k) for k in FIELDS}
    for key in ("valid_from", "valid_until"):
        if found[key] is not None:
            found[key] = found[key].isoformat()
    return found
