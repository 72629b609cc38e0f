"""Request and response bodies of the coupons API. A template's rules across fields (what each
type needs, one kind of validity) are the service's (`templates.check_values`), so that the
console's forms and a PATCH merged onto a template meet the same checks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from patron.catalog.schemas import CATEGORY_CODE_LENGTH
from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.moments import Moment
from patron.core.money import MAX_FEN
from patron.core.reasons import Reason
from patron.core.text import (
    MULTI_LINE_PATTERN,
    MultiLine,
    Name,
    NameOrNone,
    Pattern,
    SingleLine,
    SingleLineOrNone,
    multi_line,
)
from patron.coupons.models import (
    CouponStatus,
    CouponType,
    IssueSource,
    ReturnOnRefund,
    TemplateStatus,
)
from patron.orders.models import OrderChannel
from patron.orders.schemas import MAX_QUANTITY, OccurredAt

# Optional multi-line text, for a PATCH (patron.core.text writes the single-line forms).
MultiLineOrNone = Annotated[str | None, BeforeValidator(multi_line), Pattern(MULTI_LINE_PATTERN)]
MAX_LIST = 500  # entries of one scope list
MAX_ISSUE = 10_000  # members named in one JSON issue request; files take more
MAX_LIMIT = 10_000  # per-member and per-day limits
MAX_VALID_DAYS = 3660
Sku = Annotated[SingleLine, Field(min_length=1, max_length=64)]
CategoryCode = Annotated[SingleLine, Field(min_length=1, max_length=CATEGORY_CODE_LENGTH)]


class ScopeIn(Input):
    """Where a coupon applies: an empty include list means all; an exclusion always wins."""

    store_ids: list[RowId] = Field(default_factory=list, max_length=MAX_LIST)
    exclude_store_ids: list[RowId] = Field(default_factory=list, max_length=MAX_LIST)
    channels: list[OrderChannel] = Field(default_factory=list, max_length=MAX_LIST)
    exclude_channels: list[OrderChannel] = Field(default_factory=list, max_length=MAX_LIST)
    category_codes: list[CategoryCode] = Field(default_factory=list, max_length=MAX_LIST)
    exclude_category_codes: list[CategoryCode] = Field(default_factory=list, max_length=MAX_LIST)
    skus: list[Sku] = Field(default_factory=list, max_length=MAX_LIST)
    exclude_skus: list[Sku] = Field(default_factory=list, max_length=MAX_LIST)


class ScopeOut(BaseModel):
    store_ids: list[int] = Field(default_factory=list)
    exclude_store_ids: list[int] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    exclude_channels: list[str] = Field(default_factory=list)
    category_codes: list[str] = Field(default_factory=list)
    exclude_category_codes: list[str] = Field(default_factory=list)
    skus: list[str] = Field(default_factory=list)
    exclude_skus: list[str] = Field(default_factory=list)


class TemplateIn(Input):
    name: Name = Field(min_length=1, max_length=100)
    description: MultiLine = Field(default="", max_length=2000)
    type: CouponType
    status: Literal[TemplateStatus.draft, TemplateStatus.active] = Field(
        default=TemplateStatus.draft, description="created as a draft unless `active`"
    )
    threshold: int = Field(default=0, ge=0, le=MAX_FEN, description="fen of in-scope spend")
    amount: int | None = Field(
        default=None, ge=1, le=MAX_FEN, description="fen off: cash_off, voucher, shipping"
    )
    percent_off: int | None = Field(
        default=None, ge=1, le=99, description="percent_off: 15 = 15% off (8.5折)"
    )
    max_discount: int | None = Field(
        default=None, ge=1, le=MAX_FEN, description="percent_off: the most fen it takes off"
    )
    gift_sku: SingleLineOrNone = Field(
        default=None, min_length=1, max_length=64, description="gift: the product given free"
    )
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    valid_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VALID_DAYS,
        description="days from issue, the day of issue being the first; ends 23:59:59 "
        "business time",
    )
    scope: ScopeIn = Field(default_factory=ScopeIn)
    total_stock: int | None = Field(default=None, ge=1, le=MAX_FEN, description="None: no limit")
    per_member_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    per_day_limit: int | None = Field(
        default=None, ge=1, le=MAX_LIMIT, description="issues per member per business day"
    )
    stacks_with_tier_discount: bool = True
    stacks_with_points: bool = True
    exclusive: bool = False
    transferable: bool = False
    return_on_refund: ReturnOnRefund = ReturnOnRefund.full_refund


class TemplatePatch(Input):
    """Fields left out stay. A null clears an optional value (no stock limit, no threshold
    type's amount); name, description, type, status, the flags and scope cannot be null. An
    active or paused template takes only status, a higher `total_stock`, name and description."""

    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    description: Annotated[MultiLineOrNone, NOT_NULL] = Field(default=None, max_length=2000)
    type: Annotated[CouponType | None, NOT_NULL] = None
    status: Annotated[TemplateStatus | None, NOT_NULL] = None
    threshold: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=MAX_FEN)
    amount: int | None = Field(default=None, ge=1, le=MAX_FEN)
    percent_off: int | None = Field(default=None, ge=1, le=99)
    max_discount: int | None = Field(default=None, ge=1, le=MAX_FEN)
    gift_sku: SingleLineOrNone = Field(default=None, min_length=1, max_length=64)
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    valid_days: int | None = Field(default=None, ge=1, le=MAX_VALID_DAYS)
    scope: Annotated[ScopeIn | None, NOT_NULL] = None
    total_stock: int | None = Field(default=None, ge=1, le=MAX_FEN)
    per_member_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    per_day_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    stacks_with_tier_discount: Annotated[bool | None, NOT_NULL] = None
    stacks_with_points: Annotated[bool | None, NOT_NULL] = None
    exclusive: Annotated[bool | None, NOT_NULL] = None
    transferable: Annotated[bool | None, NOT_NULL] = None
    return_on_refund: Annotated[ReturnOnRefund | None, NOT_NULL] = None


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    type: CouponType
    status: TemplateStatus
    threshold: int
    amount: int | None
    percent_off: int | None
    max_discount: int | None
    gift_sku: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    scope: ScopeOut
    total_stock: int | None
    issued_count: int
    per_member_limit: int | None
    per_day_limit: int | None
    stacks_with_tier_discount: bool
    stacks_with_points: bool
    exclusive: bool
    transferable: bool
    return_on_refund: ReturnOnRefund
    created_by: str
    created_at: datetime
    updated_at: datetime


class IssueIn(Input):
    """Exactly one of `member_ids` and `mobiles`."""

    member_ids: list[RowId] | None = Field(default=None, min_length=1, max_length=MAX_ISSUE)
    mobiles: list[Annotated[SingleLine, Field(max_length=32)]] | None = Field(
        default=None, min_length=1, max_length=MAX_ISSUE
    )
    store_id: RowId | None = Field(default=None, description="the issuing store, if any")

    @model_validator(mode="after")
    def _one_list(self) -> IssueIn:
        if (self.member_ids is None) == (self.mobiles is None):
            raise PydanticCustomError(
                Reason.members_or_mobiles.value, "give either member_ids or mobiles"
            )
        return self


class IssueUpload(BaseModel):
    """An issue from a file, as its Idempotency-Key remembers it."""

    filename: str
    sha256: str
    store_id: int | None


class RefusalOut(BaseModel):
    member_id: int | None
    code: str
    mobile: str | None = None
    row: int | None = Field(default=None, description="the file's row, for an upload")


class IssueOut(BaseModel):
    issued: int
    refused: list[RefusalOut]


class TemplateSummary(BaseModel):
    id: int
    name: str
    type: CouponType
    status: TemplateStatus
    transferable: bool
    exclusive: bool


class CouponEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    from_member_id: int | None
    to_member_id: int | None
    order_id: int | None
    operator: str
    reason: str
    created_at: datetime


class CouponOut(BaseModel):
    """A coupon as its holder sees it: `status` is `expired` once `valid_until` has passed, even
    before the expiry job has marked it."""

    code: str
    member_id: int
    status: CouponStatus
    template: TemplateSummary
    type: CouponType
    threshold: int
    amount: int | None
    percent_off: int | None
    max_discount: int | None
    gift_sku: str | None
    valid_from: datetime
    valid_until: datetime
    scope: ScopeOut
    scope_summary: str
    source: IssueSource
    source_ref: str
    store_id: int | None
    issued_by: str
    issued_at: datetime
    order_id: int | None
    discount: int | None
    redeemed_at: datetime | None
    voided_at: datetime | None
    void_reason: str


class CouponDetailOut(CouponOut):
    history: list[CouponEventOut]


class TransferIn(Input):
    to_member_id: RowId


class VoidIn(Input):
    reason: Name = Field(min_length=1, max_length=200)


# --- the preview: an order as the till has it before coupons, and the codes ---


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


# --- the templates' report ---


class TemplateFiguresOut(BaseModel):
    template_id: int
    name: str
    type: str
    status: str
    issued: int
    redeemed: int
    expired: int
    void: int
    available: int
    redemption_rate: float | None = Field(
        description="redeemed / issued, 0 to 1; null when nothing was issued"
    )
    discount_given: int = Field(description="fen the redeemed coupons took off their orders")
    redeeming_sales: int = Field(
        description="fen: the totals of the orders the coupons were redeemed on, less refunds"
    )


class CouponReportOut(BaseModel):
    items: list[TemplateFiguresOut]
