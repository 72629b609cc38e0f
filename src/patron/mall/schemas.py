"""The points mall's API shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.moments import Moment
from patron.core.money import MAX_FEN
from patron.core.text import MultiLine, Name, NameOrNone, SingleLine, SingleLineOrNone
from patron.coupons.schemas import MultiLineOrNone
from patron.mall.models import ItemKind, RedemptionStatus

MAX_POINTS = 10_000_000
MAX_STOCK = 1_000_000
MAX_LIMIT = 1000
MAX_QUANTITY = 100


class Way(StrEnum):
    """How a member receives a product."""

    pickup = "pickup"
    delivery = "delivery"


class ItemIn(Input):
    kind: ItemKind
    name: Name = Field(min_length=1, max_length=100)
    name_en: SingleLine = Field(default="", max_length=100)
    description: MultiLine = Field(default="", max_length=2000)
    points_price: int = Field(ge=1, le=MAX_POINTS)
    cash_price: int = Field(default=0, ge=0, le=MAX_FEN, description="fen paid beside the points")
    coupon_template_id: RowId | None = Field(default=None, description="kind coupon only")
    count_card_product_id: RowId | None = Field(default=None, description="kind count_card only")
    fulfilment: list[Way] = Field(
        default=[], max_length=2, description="kind product only: pickup and/or delivery"
    )
    stock: int | None = Field(default=None, ge=0, le=MAX_STOCK, description="null: unlimited")
    per_member_limit: int | None = Field(
        default=None, ge=1, le=MAX_LIMIT, description="units per member; null: no limit"
    )
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    min_tier_id: RowId | None = Field(default=None, description="this tier or a higher one")
    active: bool = True


class ItemUpdate(Input):
    """The kind and what it gives stay; stock here sets what is left."""

    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    name_en: Annotated[SingleLineOrNone, NOT_NULL] = Field(default=None, max_length=100)
    description: Annotated[MultiLineOrNone, NOT_NULL] = Field(default=None, max_length=2000)
    points_price: Annotated[int | None, NOT_NULL] = Field(default=None, ge=1, le=MAX_POINTS)
    cash_price: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=MAX_FEN)
    fulfilment: Annotated[list[Way] | None, NOT_NULL] = Field(default=None, max_length=2)
    stock: int | None = Field(default=None, ge=0, le=MAX_STOCK)
    per_member_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    min_tier_id: RowId | None = None
    active: Annotated[bool | None, NOT_NULL] = None


# What a PATCH may leave out but never clear.
NOT_NULLABLE = (
    "name",
    "name_en",
    "description",
    "points_price",
    "cash_price",
    "fulfilment",
    "active",
)


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: ItemKind
    name: str
    name_en: str
    description: str
    points_price: int
    cash_price: int
    coupon_template_id: int | None
    count_card_product_id: int | None
    fulfilment: list[Way]
    stock: int | None
    redeemed_count: int
    per_member_limit: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    min_tier_id: int | None
    active: bool


class RedemptionIn(Input):
    item_id: RowId
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)
    fulfilment: Way | None = Field(default=None, description="products only")
    store_id: RowId | None = Field(default=None, description="pickup: the store")
    recipient_name: SingleLine = Field(default="", max_length=50, description="delivery")
    recipient_mobile: SingleLine = Field(default="", max_length=20, description="delivery")
    address: SingleLine = Field(default="", max_length=200, description="delivery")
    cash_reference: SingleLine = Field(
        default="", max_length=100, description="the payment of the cash part, if any"
    )


class MemberRedemptionIn(Input):
    """A member's own redemption: no cash part is taken here."""

    item_id: RowId
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)
    fulfilment: Way | None = None
    store_id: RowId | None = None
    recipient_name: SingleLine = Field(default="", max_length=50)
    recipient_mobile: SingleLine = Field(default="", max_length=20)
    address: SingleLine = Field(default="", max_length=200)


class ShipIn(Input):
    tracking: SingleLine = Field(min_length=1, max_length=100)


class CancelIn(Input):
    reason: SingleLine = Field(min_length=1, max_length=200)


class RedemptionOut(BaseModel):
    id: int
    item_id: int
    item_name: str
    member_id: int
    quantity: int
    points: int
    cash: int
    status: RedemptionStatus
    fulfilment: str
    store_id: int | None
    recipient_name: str | None
    recipient_mobile: str | None
    address: str | None
    tracking: str
    coupon_id: int | None
    count_card_id: int | None
    channel: str
    handled_by: str
    cancel_reason: str
    created_at: datetime
    updated_at: datetime


class MemberItemOut(ItemOut):
    """An item as a member sees it: whether they may redeem it now, and how many more."""

    affordable: bool
    remaining_for_member: int | None
