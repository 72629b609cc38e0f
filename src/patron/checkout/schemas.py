"""The checkout's request and response bodies: a quote prices a basket, a commit records it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from patron.catalog.schemas import CATEGORY_CODE_LENGTH
from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.money import MAX_FEN
from patron.core.reasons import Reason
from patron.core.text import NameOrNone, SingleLine, SingleLineOrNone
from patron.orders.models import OrderChannel
from patron.orders.schemas import MAX_QUANTITY, OrderOut, PaymentIn, VerificationIn

MAX_POINTS = MAX_FEN  # points balances live in 32-bit integer columns
CouponCode = Annotated[SingleLine, Field(min_length=1, max_length=24)]


class QuoteLineIn(Input):
    sku: SingleLine = Field(min_length=1, max_length=64)
    name: NameOrNone = Field(default=None, max_length=200, description="default: the sku")
    category_code: SingleLineOrNone = Field(
        default=None,
        max_length=CATEGORY_CODE_LENGTH,
        description="used when the catalog does not know the sku",
    )
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    unit_price: int = Field(ge=0, le=MAX_FEN, description="fen, the list price")
    member_price: int | None = Field(
        default=None,
        ge=0,
        le=MAX_FEN,
        description="fen: the member's unit price, when the POS has one (below unit_price)",
    )

    @model_validator(mode="after")
    def _amounts_fit(self) -> QuoteLineIn:
        if self.quantity * self.unit_price > MAX_FEN:
            raise PydanticCustomError(
                Reason.order_total_too_large.value, f"quantity × unit_price exceeds {MAX_FEN} fen"
            )
        if self.member_price is not None and self.member_price > self.unit_price:
            raise PydanticCustomError(
                Reason.discount_exceeds_price.value, "member_price is above unit_price"
            )
        return self


class QuoteRequest(Input):
    store_id: RowId
    channel: OrderChannel
    member_id: RowId | None = None
    member_code: SingleLine | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="the member code (会员码) scanned at the till, instead of member_id",
    )
    lines: list[QuoteLineIn] = Field(min_length=1, max_length=500)
    coupon_codes: Annotated[list[CouponCode], Field(max_length=10)] | Literal["auto"] = Field(
        default_factory=list,
        description='codes to use, or "auto": the member\'s best applicable coupon',
    )
    points: Annotated[int, Field(ge=0, le=MAX_POINTS)] | Literal["max"] = Field(
        default=0, description='points to pay with, or "max"'
    )
    stored_value: Annotated[int, Field(ge=0, le=MAX_FEN)] | Literal["max"] = Field(
        default=0, description='fen to pay from stored value, or "max"'
    )
    # Never stored with the quote, nor part of an idempotency fingerprint.
    verification: VerificationIn | None = Field(
        default=None,
        exclude=True,
        description="stored value: the member's code or payment password, checked at once "
        "(or give it to the commit)",
    )

    @model_validator(mode="after")
    def _one_member(self) -> QuoteRequest:
        if self.member_id is not None and self.member_code is not None:
            raise PydanticCustomError(
                Reason.member_id_or_code.value, "give member_id or member_code, not both"
            )
        return self


class QuoteLineOut(BaseModel):
    line_no: int
    sku: str
    name: str
    category_code: str | None
    quantity: int
    unit_price: int
    list_amount: int = Field(description="fen: quantity × unit_price")
    tier_discount: int = Field(description="fen off by the tier discount or member price")
    coupon_discount: int = Field(description="fen off by coupons")
    paid: int = Field(description="fen the line costs: list_amount − tier − coupon discounts")
    points: int = Field(description="points paying for the line")
    points_discount: int = Field(description="fen those points are worth")
    stored_value: int = Field(description="fen of the line paid from stored value")
    amount_due: int = Field(description="fen left to pay by external payment")


class CouponOfferOut(BaseModel):
    code: str
    applied: bool = Field(description="the quote uses this coupon")
    discount: int = Field(description="fen the coupon takes off (applied or not)")
    reason: str | None = Field(description="why it does not apply: a stable code")


class TierUpgradeOut(BaseModel):
    tier_id: int
    code: str
    name: str


class EarnOut(BaseModel):
    points: int
    growth: int
    tier_upgrade: TierUpgradeOut | None


class QuoteOut(BaseModel):
    quote_id: str
    expires_at: AwareDatetime
    status: Literal["open", "committed"]
    order_id: int | None = Field(description="the order its commit recorded")
    store_id: int
    channel: OrderChannel
    member_id: int | None
    lines: list[QuoteLineOut]
    subtotal: int = Field(description="fen: the lines' list amounts")
    tier_discount: int
    coupon_discount: int
    total: int = Field(description="fen the order costs after discounts (the order's total)")
    points_used: int
    points_discount: int = Field(description="fen the points are worth")
    stored_value_used: int = Field(description="fen")
    stored_value_principal: int = Field(description="fen of stored_value_used from principal")
    stored_value_bonus: int = Field(description="fen of stored_value_used from bonus")
    amount_due: int = Field(description="fen to pay by external payment")
    earn: EarnOut
    coupons: list[CouponOfferOut]
    verified: bool = Field(description="the member proved a stored-value payment at the quote")


class CommitRequest(Input):
    quote_id: SingleLine = Field(min_length=1, max_length=32)
    external_id: SingleLine = Field(
        min_length=1, max_length=64, description="POS or mall order number"
    )
    payments: list[PaymentIn] = Field(
        default_factory=list,
        max_length=20,
        description="external payments (not points nor stored value): they add up to amount_due",
    )
    verification: VerificationIn | None = Field(
        default=None,
        exclude=True,
        description="stored value, when the quote was not verified: code or password",
    )
    occurred_at: AwareDatetime | None = Field(default=None, description="default: now")


class CommitOut(BaseModel):
    order: OrderOut
    quote: QuoteOut = Field(description="what the order saved and earns, for the receipt")
