from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.text import (
    MULTI_LINE_PATTERN,
    Label,
    LabelOrNone,
    MultiLine,
    Pattern,
    SingleLine,
    multi_line,
)
from patron.messages.kinds import Channel
from patron.segments.rules import MAX_RULE_LENGTH

MAX_ACTIONS = 5
MAX_POINTS = 1_000_000  # a member's grant
MAX_BUDGET = 10**12
RuleText = Annotated[MultiLine, Field(min_length=1, max_length=MAX_RULE_LENGTH)]
RuleOrNone = Annotated[
    Annotated[str, Field(min_length=1, max_length=MAX_RULE_LENGTH)] | None,
    BeforeValidator(multi_line),
    Pattern(MULTI_LINE_PATTERN),
]
Budget = Annotated[int, Field(ge=0, le=MAX_BUDGET)]
Percent = Annotated[int, Field(ge=0, le=50)]
Days = Annotated[int, Field(ge=1, le=365)]


class IssueCoupon(Input):
    type: Literal["issue_coupon"]
    template_id: RowId


class GrantPoints(Input):
    """Points available at once, expiring by the points policy as earned points do."""

    type: Literal["grant_points"]
    points: Annotated[int, Field(ge=1, le=MAX_POINTS)]
    reason: Label = Field(min_length=1, max_length=100)


class SendMessage(Input):
    """A marketing message: consent, the weekly cap and quiet hours apply."""

    type: Literal["send_message"]
    channel: Channel
    template: SingleLine = Field(min_length=1, max_length=64, description="a message template code")


# Told apart by `type` (a plain union: the inputs' own validator rules out a discriminator).
Action = IssueCoupon | GrantPoints | SendMessage


class Audience(Input):
    segment_id: RowId | None = None
    rule: RuleOrNone = None


class CampaignPreviewIn(Audience):
    """A campaign's body (the name may be left out): what a preview counts."""

    name: Label = Field(default="", max_length=100)
    description: Label = Field(default="", max_length=500)
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    control_percent: Percent = 10
    control_reason: Label = Field(default="", max_length=200)
    schedule_at: AwareDatetime | None = None
    attribution_days: Days = 14
    budget_coupons: Budget | None = None
    budget_points: Budget | None = None
    budget_messages: Budget | None = None


class CampaignIn(CampaignPreviewIn):
    name: Label = Field(min_length=1, max_length=100)


class CampaignPatch(Input):
    """Any field of a draft or scheduled campaign; `segment_id` or `rule` replaces the audience
    (the other is cleared). Budgets and `schedule_at` may be set to null (none, launch now)."""

    name: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    description: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=500)
    segment_id: Annotated[RowId | None, NOT_NULL] = None
    rule: Annotated[RuleOrNone, NOT_NULL] = None
    actions: Annotated[list[Action] | None, NOT_NULL] = Field(
        default=None, min_length=1, max_length=MAX_ACTIONS
    )
    control_percent: Annotated[Percent | None, NOT_NULL] = None
    control_reason: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=200)
    schedule_at: AwareDatetime | None = None
    attribution_days: Annotated[Days | None, NOT_NULL] = None
    budget_coupons: Budget | None = None
    budget_points: Budget | None = None
    budget_messages: Budget | None = None


class Cost(BaseModel):
    coupons: int
    points: int
    messages: int


class ActionPreview(BaseModel):
    index: int
    type: str
    expected_units: int
    skipped: dict[str, int]  # reason -> members


class CampaignPreview(BaseModel):
    audience: int
    control: int
    treated: int
    expected_cost: Cost
    # Members left out, by reason: no_marketing (the whole member), and the messages'
    # no_consent, no_address, frequency_cap, channel_off (summed over the message actions).
    skipped: dict[str, int]
    actions: list[ActionPreview]
    budget_ok: bool
    over_budget: list[str]  # "coupons", "points", "messages"


class OutcomeOut(BaseModel):
    action_index: int
    type: str
    outcome: str  # done, or why skipped
    members: int
    units: int


class CampaignOut(BaseModel):
    id: int
    name: str
    description: str
    status: str
    segment_id: int | None
    rule: str | None
    launched_rule: str | None
    actions: list[dict[str, Any]]
    control_percent: int
    control_reason: str
    seed: int
    attribution_days: int
    budget_coupons: int | None
    budget_points: int | None
    budget_messages: int | None
    schedule_at: datetime | None
    launched_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    audience_size: int | None
    control_size: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class CampaignDetail(CampaignOut):
    treated: int  # members treated so far (control members are never treated)
    outcomes: list[OutcomeOut]


class CampaignMemberOut(BaseModel):
    member_id: int
    in_control: bool
    treated_at: datetime | None
    skip_reason: str | None
