"""Bodies of the coupon preview: an order as the till has it before coupons, and the codes."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from patron.catalog.schemas import CATEGORY_CODE_LENGTH
from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.money import MAX_FEN
from patron.core.reasons import Reason
from patron.core.text import SingleLine, SingleLineOrNone
from patron.orders.models import OrderChannel
from patron.orders.schemas import MAX_QUANTITY, OccurredAt


class EvaluateLineIn(Input):
    sku: SingleLine = Field(min_length=1, max_length=64)
    category_code: SingleLineOrNone = Field(
        default=None,
        max_length=CATEGORY_CODE_LENGTH,
        description="used when the catalog does not know the sku",
    )
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    unit_price: int = Field(ge=0, le=MAX_FEN, description="fen")
    discount: int = Field(
        default=0, ge=0, le=MAX_FEN, description="fen off before coupons (tier discount)"
    )

    @model_validator(mode="after")
    def _discount_within_price(self) -> EvaluateLineIn:
        if self.discount > self.quantity * self.unit_price:
            raise PydanticCustomError(
                Reason.discount_exceeds_price.value, "discount exceeds quantity × unit_price"
            )
        return self

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price - self.discount


class EvaluateIn(Input):
    member_id: RowId | None = None
    store_id: RowId
    channel: OrderChannel
    occurred_at: OccurredAt | None = Field(default=None, description="default: now")
    lines: list[EvaluateLineIn] = Field(min_length=1, max_length=500)
    codes: list[SingleLine] = Field(min_length=1, max_length=50)
    points_pay: bool = Field(default=False, description="points pay part of the order")
    tier_discount: bool = Field(default=False, description="a tier discount is applied")


class CouponOutcomeOut(BaseModel):
    code: str
    applies: bool
    discount: int = Field(description="fen the coupon takes off these lines")
    reason: str | None = Field(description="why it does not apply: a stable code")
    unavailable: bool = Field(description="the coupon itself cannot be used (an order gets 409)")


class EvaluateOut(BaseModel):
    coupons: list[CouponOutcomeOut]
    best: str | None = Field(description="the code of the best coupon that applies")
