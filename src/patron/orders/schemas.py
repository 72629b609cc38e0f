from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from patron.catalog.schemas import CATEGORY_CODE_LENGTH
from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.moments import within_utc_range
from patron.core.money import MAX_FEN
from patron.core.reasons import Reason
from patron.core.text import MultiLine, Name, SingleLine, SingleLineOrNone
from patron.orders.models import OrderChannel, OrderStatus, PaymentMethod

MAX_QUANTITY = 1_000_000
EARLIEST_YEAR = 2000


def check_occurred_at(moment: datetime) -> datetime:
    """A ValueError coded `out_of_range` for a time before 2000 (local) or one with no UTC
    equivalent (0001-01-01T00:00+08:00): such a time cannot be compared with now or stored."""
    if moment.year < EARLIEST_YEAR:
        raise PydanticCustomError(Reason.out_of_range.value, f"is before {EARLIEST_YEAR}")
    return within_utc_range(moment)


OccurredAt = Annotated[AwareDatetime, AfterValidator(check_occurred_at)]


class OrderItemIn(Input):
    sku: SingleLine = Field(min_length=1, max_length=64)
    name: Name = Field(min_length=1, max_length=200)
    category_code: SingleLineOrNone = Field(default=None, max_length=CATEGORY_CODE_LENGTH)
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    unit_price: int = Field(ge=0, le=MAX_FEN, description="fen")
    discount: int = Field(default=0, ge=0, le=MAX_FEN, description="fen")
    paid: int = Field(ge=0, le=MAX_FEN, description="fen: quantity × unit_price − discount")
    tier_discount: int = Field(
        default=0,
        ge=0,
        le=MAX_FEN,
        description="fen inside `discount` that the member's tier discount or member price took "
        "off this line; a coupon that does not stack with it is refused on such lines only",
    )
    points: int = Field(
        default=0,
        ge=0,
        le=MAX_FEN,
        description="points that pay for this line (their fen are inside the order's points "
        "payment); when no line gives any, the order spreads its points payment over the lines",
    )
    stored_value: int = Field(
        default=0,
        ge=0,
        le=MAX_FEN,
        description="fen of this line paid from stored value; when no line gives any, the "
        "order spreads its stored-value payment over the lines",
    )


class VerificationIn(Input):
    """Who pays with stored value: the member code their app shows, or their payment password.
    A wrong one counts toward the lock-out (verification_failed, then stored_value_locked)."""

    member_code: SingleLine | None = Field(default=None, min_length=1, max_length=32)
    password: SingleLine | None = Field(default=None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _one_of(self) -> VerificationIn:
        if (self.member_code is None) == (self.password is None):
            raise PydanticCustomError(
                Reason.code_or_password.value, "give either member_code or password"
            )
        return self


class PaymentIn(Input):
    method: PaymentMethod
    amount: int = Field(gt=0, le=MAX_FEN, description="fen")
    reference: SingleLine = Field(default="", max_length=100)
    # Left out of the idempotency fingerprint (and so never stored hashed beside the order).
    verification: VerificationIn | None = Field(
        default=None,
        exclude=True,
        description="stored_value only: the member's code or payment password",
    )

    @model_validator(mode="after")
    def _verification_for_stored_value(self) -> PaymentIn:
        if self.verification is not None and self.method != PaymentMethod.stored_value:
            raise PydanticCustomError(
                Reason.verification_without_stored_value.value,
                "only a stored_value payment takes a verification",
            )
        return self


class CouponClaimIn(Input):
    code: SingleLine = Field(min_length=1, max_length=24)
    amount: int = Field(gt=0, le=MAX_FEN, description="fen the POS took off with the coupon")


class OrderCreate(Input):
    external_id: SingleLine = Field(
        min_length=1, max_length=64, description="POS or mall order number"
    )
    store_id: RowId
    channel: OrderChannel
    member_id: RowId | None = None
    occurred_at: OccurredAt
    items: list[OrderItemIn] = Field(min_length=1, max_length=500)
    payments: list[PaymentIn] = Field(default_factory=list, max_length=20)
    coupons: list[CouponClaimIn] = Field(
        default_factory=list,
        max_length=10,
        description="coupons the POS applied; their amounts are inside the lines' discounts",
    )
    tier_discount: bool = Field(
        default=False,
        description="a tier discount or member price is applied: coupons that do not stack "
        "with it are refused (not_with_tier_discount); implied by tier_discount_amount > 0",
    )
    tier_discount_amount: int = Field(
        default=0,
        ge=0,
        le=MAX_FEN,
        description="fen the POS took off with the member's tier discount (GET "
        "/members/{id}/tier: discount_percent), inside the lines' discounts with the coupons'; "
        "when the lines name their tier_discount, their sum (given or not)",
    )

    @model_validator(mode="after")
    def _tier_discount_applied(self) -> OrderCreate:
        by_line = sum(item.tier_discount for item in self.items)
        if by_line and not self.tier_discount_amount:
            self.tier_discount_amount = by_line
        elif by_line and by_line != self.tier_discount_amount:
            raise PydanticCustomError(
                Reason.tier_discounts_mismatch.value,
                f"the lines' tier discounts add up to {by_line},"
                f" tier_discount_amount is {self.tier_discount_amount}",
            )
        if self.tier_discount_amount > 0:
            self.tier_discount = True
        return self

    @model_validator(mode="after")
    def _stored_value_payer(self) -> OrderCreate:
        paying = [p for p in self.payments if p.method == PaymentMethod.stored_value]
        if paying and self.member_id is None:
            raise PydanticCustomError(
                Reason.stored_value_needs_member.value,
                "a stored_value payment is taken from the order's member: give member_id",
            )
        given = {(v.member_code, v.password) for p in paying if (v := p.verification)}
        if len(given) > 1:
            raise PydanticCustomError(
                Reason.verifications_differ.value,
                "the stored_value payments are one spend: give one verification",
            )
        return self

    @model_validator(mode="after")
    def _points_payer(self) -> OrderCreate:
        if self.member_id is None and any(p.method == PaymentMethod.points for p in self.payments):
            raise PydanticCustomError(
                Reason.points_need_member.value,
                "a points payment burns the order's member's points: give member_id",
            )
        return self

    @property
    def points_fen(self) -> int:
        """Fen the order's points payments pay."""
        return sum(p.amount for p in self.payments if p.method == PaymentMethod.points)

    @property
    def stored_value(self) -> tuple[int, VerificationIn | None] | None:
        """The stored-value payments as one spend: fen and the verification; None without."""
        paying = [p for p in self.payments if p.method == PaymentMethod.stored_value]
        if not paying:
            return None
        verification = next((p.verification for p in paying if p.verification), None)
        return sum(p.amount for p in paying), verification


class RefundItemIn(Input):
    line_id: RowId
    quantity: int = Field(gt=0)


class RefundCreate(Input):
    items: list[RefundItemIn] = Field(default_factory=list, max_length=500)
    all: bool = False
    reason: MultiLine = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _one_of(self) -> RefundCreate:
        if self.all == bool(self.items):
            raise PydanticCustomError(
                Reason.refund_items_or_all.value, "give either items or all=true"
            )
        return self


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    line_no: int
    product_id: int
    sku: str
    name: str
    category_id: int | None
    quantity: int
    unit_price: int
    discount: int
    paid: int
    tier_discount: int
    points: int
    stored_value: int
    refunded_quantity: int
    refunded_amount: int


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    method: PaymentMethod
    amount: int
    reference: str


class RefundLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line_id: int
    quantity: int
    amount: int


class RefundOut(BaseModel):
    id: int
    order_id: int
    amount: int
    reason: str
    created_by: str
    created_at: AwareDatetime
    lines: list[RefundLineOut]


class OrderSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    store_id: int
    channel: OrderChannel
    member_id: int | None
    occurred_at: AwareDatetime
    total: int
    tier_id: int | None = Field(description="the tier whose discount the order got")
    tier_discount_amount: int = Field(description="fen, inside the lines' discounts")
    refunded_amount: int
    refundable_amount: int
    status: OrderStatus


class OrderOut(OrderSummary):
    items: list[OrderLineOut]
    payments: list[PaymentOut]
    refunds: list[RefundOut]


class OrderImportReport(BaseModel):
    dry_run: bool
    rows: int
    orders: int
    created: int
    skipped: int
    lines: int
    errors: list[dict[str, object]]
