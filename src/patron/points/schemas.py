from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.moments import Moment
from patron.core.money import MAX_FEN
from patron.core.reasons import Reason
from patron.core.text import KEYS_CHECKED, MultiLine, Name, SingleLine, TextMap
from patron.orders.models import OrderChannel
from patron.orders.schemas import OrderItemIn, PaymentIn
from patron.points.models import AdjustmentStatus, ExpiryPolicy, RuleEffect
from patron.tiers.schemas import TierCode

MAX_POINTS = MAX_FEN  # points live in 32-bit integer columns too
TIER_AMOUNT = 100  # what a `tier` rule stores as its amount: the tier's multiplier applies


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    expiry_policy: ExpiryPolicy
    rolling_months: int
    pending_days: int
    points_per_yuan_value: int
    max_order_share_pct: int
    min_burn: int
    approval_threshold: int
    approval_window_hours: int
    max_points_per_order: int | None
    category_caps: dict[str, int]
    combine_with_coupons: bool


Percent = Annotated[int, Field(ge=0, le=100)]
# Category code -> percent; a code no line carries caps nothing.
CategoryCaps = Annotated[dict[SingleLine, Percent], KEYS_CHECKED]


class PolicyUpdate(Input):
    expiry_policy: ExpiryPolicy | None = None
    rolling_months: int | None = Field(default=None, ge=1, le=120)
    pending_days: int | None = Field(default=None, ge=0, le=90)
    points_per_yuan_value: int | None = Field(
        default=None, ge=1, le=100_000, description="points worth ¥1"
    )
    max_order_share_pct: int | None = Field(default=None, ge=0, le=100)
    min_burn: int | None = Field(default=None, ge=1, le=MAX_POINTS)
    approval_threshold: int | None = Field(default=None, ge=1, le=MAX_POINTS)
    approval_window_hours: int | None = Field(
        default=None,
        ge=1,
        le=24 * 31,
        description="a requester's adjustments of one member within this many hours count together",
    )
    max_points_per_order: int | None = Field(
        default=None,
        ge=1,
        le=MAX_POINTS,
        description="the most points one order may use; null (given) lifts the cap",
    )
    category_caps: CategoryCaps | None = Field(
        default=None,
        max_length=200,
        description="category code -> the most percent of that category's lines points may pay "
        "(below the order share); replaces the caps as a whole",
    )
    combine_with_coupons: bool | None = Field(
        default=None, description="whether points pay for an order beside a coupon"
    )

    def changes(self) -> dict[str, Any]:
        """The fields given, a null cap per order lifting the cap (other nulls change nothing)."""
        found = self.model_dump(mode="json", exclude_none=True)
        if "max_points_per_order" in self.model_fields_set and self.max_points_per_order is None:
            found["max_points_per_order"] = None
        return found


class RuleConditions(Input):
    store_ids: list[RowId] = Field(default_factory=list)
    channels: list[OrderChannel] = Field(default_factory=list)
    category_ids: list[RowId] = Field(default_factory=list)
    product_ids: list[RowId] = Field(default_factory=list)
    skus: list[SingleLine] = Field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    weekdays: list[int] = Field(
        default_factory=list,
        description="ISO weekdays, 1 = Monday … 7 = Sunday",
        json_schema_extra={"items": {"type": "integer", "minimum": 1, "maximum": 7}},
    )
    birthday: Literal["day", "month"] | None = None
    attributes: TextMap = Field(default_factory=dict)
    tiers: list[TierCode] = Field(
        default_factory=list,
        max_length=20,
        description="tier codes: the rule fires only for members holding one of them",
    )

    @model_validator(mode="after")
    def _sane(self) -> RuleConditions:
        if any(not 1 <= d <= 7 for d in self.weekdays):
            raise PydanticCustomError(
                Reason.out_of_range.value, "weekdays are 1 (Monday) to 7 (Sunday)"
            )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise PydanticCustomError(Reason.dates_reversed.value, "date_from is after date_to")
        return self


class RuleIn(Input):
    name: Name = Field(min_length=1, max_length=100)
    active: bool = True
    priority: int = Field(default=0, ge=-1000, le=1000)
    stackable: bool = True
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    effect: RuleEffect
    amount: int | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="multiply: factor in hundredths (200 = ×2); add: points; tier: left out "
        "(the member's tier's points multiplier applies)",
    )
    cap_per_order: int | None = Field(default=None, ge=1, le=MAX_POINTS)
    cap_per_member_day: int | None = Field(default=None, ge=1, le=MAX_POINTS)

    @model_validator(mode="after")
    def _factor(self) -> RuleIn:
        if self.effect is RuleEffect.tier:
            if self.amount not in (None, TIER_AMOUNT):
                raise PydanticCustomError(
                    Reason.amount_not_for_tier.value,
                    "a tier rule takes no amount: the member's tier's points multiplier applies",
                )
            self.amount = TIER_AMOUNT
        if self.amount is None:
            raise PydanticCustomError(
                Reason.amount_needed.value, f"the effect {self.effect.value} needs an amount"
            )
        if self.effect is RuleEffect.multiply and self.amount <= 100:
            raise PydanticCustomError(
                Reason.factor_not_above_one.value,
                "a multiplier above ×1 is written as more than 100 (150 = ×1.5)",
            )
        return self


class RuleOut(RuleIn):
    id: int
    amount: int


class PreviewIn(Input):
    member_id: RowId
    store_id: RowId
    channel: OrderChannel = OrderChannel.pos
    occurred_at: Moment | None = None
    items: list[OrderItemIn] = Field(min_length=1)
    payments: list[PaymentIn] = Field(default_factory=list)


class FiredOut(BaseModel):
    rule_id: int | None
    name: str
    points: int


class PreviewOut(BaseModel):
    base: int
    rules: list[FiredOut]
    total: int


class ExpiringOut(BaseModel):
    expires_at: datetime
    points: int


class BalanceOut(BaseModel):
    member_id: int
    available: int
    pending: int
    debt: int
    expiring: list[ExpiringOut]


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    points: int
    lot_id: int | None
    order_id: int | None
    refund_id: int | None
    adjustment_id: int | None
    store_id: int | None
    operator: str
    reason: str
    rules: list[dict[str, Any]] | None
    merge_partner_id: int | None
    debt_paid: int
    lapsed: int
    created_at: datetime


class BurnIn(Input):
    points: int = Field(gt=0, le=MAX_POINTS)
    reason: MultiLine = Field(default="", max_length=200)
    order_id: RowId | None = None
    store_id: RowId | None = None


class AdjustmentIn(Input):
    points: int = Field(ge=-MAX_POINTS, le=MAX_POINTS, description="signed")
    reason: MultiLine = Field(min_length=1, max_length=200)
    store_id: RowId | None = None


class AdjustmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    points: int
    reason: str
    status: AdjustmentStatus
    requested_by: str
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None


class LiabilityOut(BaseModel):
    points: int
    cash_value_fen: int
    by_expiry_month: dict[str, int]
    by_store: dict[str, int]
