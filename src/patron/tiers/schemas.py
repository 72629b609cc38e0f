from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.text import Label, Name, NameOrNone, Pattern, SingleLine, single_line
from patron.tiers.benefits import DiscountSource
from patron.tiers.models import DowngradeMode, Evaluation, PlanTerm, QualifyingMetric

GROWTH_MAX = 1_000_000_000  # thresholds and gifts fit the 32-bit columns with room
TIER_CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# Its pattern is stricter than a single line's, so it is the one the schema publishes.
TierCode = Annotated[
    str,
    BeforeValidator(single_line),
    StringConstraints(pattern=TIER_CODE_PATTERN),
    Pattern(TIER_CODE_PATTERN),
    Field(description="e.g. gold"),
]
# ×1.5 as 1.5, kept in hundredths (rounded)
Multiplier = Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)]


class ActionGrowthIn(Input):
    registration: int = Field(default=0, ge=0, le=GROWTH_MAX)
    profile_completed: int = Field(default=0, ge=0, le=GROWTH_MAX)
    check_in: int = Field(default=0, ge=0, le=GROWTH_MAX)


class ProgramIn(Input):
    """The whole program; a field left out takes its default."""

    metric: QualifyingMetric = QualifyingMetric.rolling_12m
    evaluation: Evaluation = Evaluation.anniversary
    grace_days: int = Field(default=30, ge=0, le=366)
    downgrade: DowngradeMode = DowngradeMode.one_step
    growth_per_yuan: int = Field(default=1, ge=0, le=1000, description="growth per ¥1 paid")
    action_growth: ActionGrowthIn = Field(default_factory=ActionGrowthIn)
    staff_discount: bool = Field(
        default=False, description="whether members flagged as staff get the tier discount"
    )


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    metric: QualifyingMetric
    evaluation: Evaluation
    grace_days: int
    downgrade: DowngradeMode
    growth_per_yuan: int
    action_growth: dict[str, int]
    staff_discount: bool


class GiftCouponIn(Input):
    template_id: RowId
    count: int = Field(ge=1, le=100)


class GiftIn(Input):
    coupons: list[GiftCouponIn] = Field(default_factory=list, max_length=20)
    points: int = Field(default=0, ge=0, le=GROWTH_MAX)


class TierIn(Input):
    code: TierCode
    name: Name = Field(min_length=1, max_length=50, description="in Chinese, e.g. 金卡")
    name_en: Label = Field(default="", max_length=50)
    rank: int = Field(ge=0, le=100, description="0: the base tier every member holds")
    entry_threshold: int = Field(default=0, ge=0, le=GROWTH_MAX)
    retention_threshold: int = Field(default=0, ge=0, le=GROWTH_MAX)
    discount_percent: int = Field(default=0, ge=0, le=99, description="5: 5% off (95折)")
    points_multiplier: Multiplier = 1.0
    upgrade_gift: GiftIn = Field(default_factory=GiftIn)
    birthday_gift: GiftIn = Field(default_factory=GiftIn)


class TierUpdate(Input):
    """Each field may be left out but not null."""

    code: Annotated[TierCode | None, NOT_NULL] = None
    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=50)
    name_en: Annotated[Label | None, NOT_NULL] = Field(default=None, max_length=50)
    rank: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=100)
    entry_threshold: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=GROWTH_MAX)
    retention_threshold: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=GROWTH_MAX)
    discount_percent: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=99)
    points_multiplier: Annotated[Multiplier | None, NOT_NULL] = None
    upgrade_gift: Annotated[GiftIn | None, NOT_NULL] = None
    birthday_gift: Annotated[GiftIn | None, NOT_NULL] = None


def tier_values(data: TierIn | TierUpdate, *, partial: bool) -> dict[str, Any]:
    """The columns a body sets: points_multiplier (1.5) as points_factor in hundredths (150)."""
    values = data.model_dump(exclude_unset=partial)
    if "points_multiplier" in values:
        factor = values.pop("points_multiplier")
        values["points_factor"] = None if factor is None else round(factor * 100)
    return values


class TierOut(BaseModel):
    id: int
    code: str
    name: str
    name_en: str
    rank: int
    entry_threshold: int
    retention_threshold: int
    discount_percent: int
    points_multiplier: float
    upgrade_gift: dict[str, Any]
    birthday_gift: dict[str, Any]

    @classmethod
    def of(cls, tier: Any) -> TierOut:
        fields = {
            name: getattr(tier, name) for name in cls.model_fields if name != "points_multiplier"
        }
        return cls(**fields, points_multiplier=tier.points_factor / 100)


class TierBrief(BaseModel):
    code: str
    name: str
    name_en: str
    rank: int
    discount_percent: int
    points_multiplier: float

    @classmethod
    def of(cls, tier: Any) -> TierBrief:
        fields = {
            name: getattr(tier, name) for name in cls.model_fields if name != "points_multiplier"
        }
        return cls(**fields, points_multiplier=tier.points_factor / 100)


class DiscountOut(BaseModel):
    percent: int = Field(description="5: 5% off (95折)")
    source: DiscountSource = Field(description="the tier's, or a live paid plan's own")


class MemberTierOut(BaseModel):
    member_id: int
    tier: TierBrief | None = Field(description="None: tiers are off (no ladder)")
    since: datetime | None
    review_at: datetime | None
    qualifying_growth: int
    lifetime_growth: int
    next_tier: TierBrief | None
    growth_needed: int | None = Field(description="qualifying growth still needed for next_tier")
    paid: bool = Field(description="whether a paid membership holds the tier")
    discount: DiscountOut | None = Field(
        description="the discount the till gives the member (the higher of the tier's and a "
        "live paid plan's own); None: none, or a staff member the program gives none"
    )


class TierSetIn(Input):
    tier_code: SingleLine = Field(min_length=1, max_length=32)
    reason: Name = Field(min_length=1, max_length=200)


class TierChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    from_tier: str | None
    to_tier: str
    reason: str
    qualifying_growth: int | None
    operator: str
    note: str
    created_at: datetime


class GrowthEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    growth: int
    store_id: int | None
    order_id: int | None
    refund_id: int | None
    action: str | None
    merge_partner_id: int | None
    operator: str
    reason: str
    occurred_at: datetime
    created_at: datetime


# --- paid membership (付费会员) ---------------------------------------------------------------

PRICE_MAX = 100_000_000  # fen: ¥1,000,000


class MonthlyCouponIn(Input):
    template_id: RowId
    count: int = Field(ge=1, le=10, description="coupons of the template each month")


class PlanBenefitsIn(Input):
    """A plan's own benefits, besides or instead of a tier."""

    discount_percent: int = Field(default=0, ge=0, le=99, description="5: 5% off (95折)")
    monthly_coupons: list[MonthlyCouponIn] = Field(default_factory=list, max_length=20)


class PaidPlanIn(Input):
    name: Name = Field(min_length=1, max_length=100, description="in Chinese")
    name_en: Label = Field(default="", max_length=100)
    term: PlanTerm
    price: int = Field(ge=0, le=PRICE_MAX, description="fen")
    tier_id: RowId | None = Field(default=None, description="the tier the plan grants")
    benefits: PlanBenefitsIn = Field(default_factory=PlanBenefitsIn)
    auto_renew: bool = False
    active: bool = True


class PaidPlanUpdate(Input):
    """Each field may be left out; only tier_id may be null (a plan of its own benefits)."""

    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    name_en: Annotated[Label | None, NOT_NULL] = Field(default=None, max_length=100)
    term: Annotated[PlanTerm | None, NOT_NULL] = None
    price: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=PRICE_MAX)
    tier_id: RowId | None = None
    benefits: Annotated[PlanBenefitsIn | None, NOT_NULL] = None
    auto_renew: Annotated[bool | None, NOT_NULL] = None
    active: Annotated[bool | None, NOT_NULL] = None


class PaidPlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    name_en: str
    term: PlanTerm
    price: int
    tier_id: int | None
    benefits: dict[str, Any]
    auto_renew: bool
    active: bool


class PaymentIn(Input):
    method: SingleLine = Field(min_length=1, max_length=16, description="e.g. wechat_pay")
    reference: SingleLine = Field(default="", max_length=100, description="the payment's id")


class PaidMembershipIn(Input):
    """An external payment notice for a term of a plan."""

    plan_id: RowId
    payment: PaymentIn
    auto_renew: bool | None = Field(default=None, description="null: the plan's flag")


class PaidMembershipOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    plan_id: int
    starts_at: datetime
    ends_at: datetime
    price: int
    auto_renew: bool
    payment_method: str
    payment_reference: str
    status: str
    created_at: datetime
    lapsed_at: datetime | None
