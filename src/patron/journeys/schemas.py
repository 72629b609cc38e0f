"""A journey's definition as the API takes it (and as a version stores it, dumped to JSON):
the trigger, the entry limit, the control share, the goal and the steps.

Steps run in list order unless a step names its `next`; a `branch` names where yes and no go;
a `condition` that does not hold ends the journey for the member (a filter). The first step is
where a member enters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from patron.core.inputs import NOT_NULL, Input
from patron.core.reasons import Reason
from patron.core.text import (
    Label,
    LabelOrNone,
    MultiLine,
    Pattern,
    SingleLine,
    TextMap,
    single_line,
)
from patron.messages.kinds import Channel
from patron.segments.rules import MAX_RULE_LENGTH

STEP_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"
StepKey = Annotated[
    str,
    BeforeValidator(single_line),
    StringConstraints(pattern=STEP_KEY_PATTERN),
    Pattern(STEP_KEY_PATTERN),
]
Days = Annotated[int, Field(ge=1, le=3650)]
DaysAhead = Annotated[int, Field(ge=0, le=366)]


# Triggers -------------------------------------------------------------------------------------


class Registered(Input):
    event: Literal["member.registered"]


class FirstPurchase(Input):
    event: Literal["first_purchase"]


class OrderCompleted(Input):
    event: Literal["order.completed"]
    min_total: int = Field(default=0, ge=0)  # fen: smaller orders do not enter


class TierChanged(Input):
    event: Literal["member.tier_changed"]
    direction: Literal["up", "down", "any"] = "any"
    to_tier: SingleLine | None = Field(default=None, max_length=32)  # a tier's code


class Birthday(Input):
    event: Literal["birthday"]
    days_before: DaysAhead = 0


class Dormant(Input):
    event: Literal["dormant"]
    days: Days  # days since the last purchase (the profiles' recency_days)


class PointsExpiring(Input):
    event: Literal["points_expiring"]
    days: DaysAhead  # points expire on the business day this many days ahead


class CouponExpiring(Input):
    event: Literal["coupon_expiring"]
    days: DaysAhead
    template_id: int | None = Field(default=None, ge=1)


class NoPurchaseAfterCoupon(Input):
    event: Literal["no_purchase_after_coupon"]
    days: Days  # a coupon issued this many days ago, no order since
    template_id: int | None = Field(default=None, ge=1)


def _by(name: str) -> Any:
    """A discriminator reading `name` from a body (or a model): the input models' own
    validators keep pydantic from inferring one from the Literal fields."""

    def read(value: Any) -> Any:
        return value.get(name) if isinstance(value, dict) else getattr(value, name, None)

    return Discriminator(read)


Trigger = Annotated[
    Annotated[Registered, Tag("member.registered")]
    | Annotated[FirstPurchase, Tag("first_purchase")]
    | Annotated[OrderCompleted, Tag("order.completed")]
    | Annotated[TierChanged, Tag("member.tier_changed")]
    | Annotated[Birthday, Tag("birthday")]
    | Annotated[Dormant, Tag("dormant")]
    | Annotated[PointsExpiring, Tag("points_expiring")]
    | Annotated[CouponExpiring, Tag("coupon_expiring")]
    | Annotated[NoPurchaseAfterCoupon, Tag("no_purchase_after_coupon")],
    _by("event"),
]
# Triggers the daily job looks for (the others are events, entered as they happen).
DATED_TRIGGERS = frozenset(
    {"birthday", "dormant", "points_expiring", "coupon_expiring", "no_purchase_after_coupon"}
)


# Steps ----------------------------------------------------------------------------------------


class _Step(Input):
    key: StepKey
    next: StepKey | None = None  # default: the step after this one in the list


class Wait(_Step):
    """Wait a duration, or until the next time the business clock shows `until_hour`."""

    type: Literal["wait"]
    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=23)
    minutes: int = Field(default=0, ge=0, le=59)
    until_hour: int | None = Field(default=None, ge=0, le=23)

    @model_validator(mode="after")
    def _one_kind(self) -> Wait:
        duration = self.days or self.hours or self.minutes
        if (self.until_hour is None) == (not duration):
            raise PydanticCustomError(
                Reason.wait_kind.value,
                "a wait takes a duration (days, hours, minutes) or until_hour",
            )
        return self


class Condition(_Step):
    """A segment rule evaluated for the member: on to `next` when it holds, else out."""

    type: Literal["condition"]
    rule: MultiLine = Field(min_length=1, max_length=MAX_RULE_LENGTH)


class Branch(_Step):
    """A segment rule evaluated for the member: to `yes` when it holds, else to `no`."""

    type: Literal["branch"]
    rule: MultiLine = Field(min_length=1, max_length=MAX_RULE_LENGTH)
    yes: StepKey
    no: StepKey


class IssueCoupon(_Step):
    type: Literal["action"]
    action: Literal["issue_coupon"]
    template_id: int = Field(ge=1)


class GrantPoints(_Step):
    type: Literal["action"]
    action: Literal["grant_points"]
    points: int = Field(ge=1, le=1_000_000)
    reason: Label = Field(min_length=1, max_length=100)


class SendMessage(_Step):
    type: Literal["action"]
    action: Literal["send_message"]
    channel: Channel
    template: SingleLine = Field(min_length=1, max_length=64)  # a message template's code


class AddTag(_Step):
    type: Literal["action"]
    action: Literal["tag_add"]
    tag: Label = Field(min_length=1, max_length=50)


class RemoveTag(_Step):
    type: Literal["action"]
    action: Literal["tag_remove"]
    tag: Label = Field(min_length=1, max_length=50)


class Webhook(_Step):
    """Publish `journey.action` with `data`: the webhook endpoints subscribed to it get it."""

    type: Literal["action"]
    action: Literal["webhook"]
    data: TextMap = Field(default_factory=dict)


class Exit(_Step):
    type: Literal["exit"]


Action = Annotated[
    Annotated[IssueCoupon, Tag("issue_coupon")]
    | Annotated[GrantPoints, Tag("grant_points")]
    | Annotated[SendMessage, Tag("send_message")]
    | Annotated[AddTag, Tag("tag_add")]
    | Annotated[RemoveTag, Tag("tag_remove")]
    | Annotated[Webhook, Tag("webhook")],
    _by("action"),
]
Step = Annotated[
    Annotated[Wait, Tag("wait")]
    | Annotated[Condition, Tag("condition")]
    | Annotated[Branch, Tag("branch")]
    | Annotated[Action, Tag("action")]
    | Annotated[Exit, Tag("exit")],
    _by("type"),
]


class Goal(Input):
    """A purchase within `days` of entering: the member's journey ends early, converted."""

    type: Literal["purchase"]
    days: int = Field(default=14, ge=1, le=365)


# Bodies ---------------------------------------------------------------------------------------


class Definition(Input):
    trigger: Trigger
    entry_limit: Literal["once", "every_n_days"] = "once"
    entry_days: int | None = Field(default=None, ge=1, le=3650)  # with every_n_days
    control_percent: int = Field(default=10, ge=0, le=50)
    goal: Goal | None = None
    steps: list[Step] = Field(min_length=1, max_length=50)


class JourneyIn(Definition):
    name: Label = Field(min_length=1, max_length=100)
    description: Label = Field(default="", max_length=500)


class JourneyPatch(Input):
    """Name and description change in place; a changed definition of a journey members have
    entered is a new version (they finish the one they entered)."""

    name: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    description: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=500)
    trigger: Annotated[Trigger | None, NOT_NULL] = None
    entry_limit: Annotated[Literal["once", "every_n_days"] | None, NOT_NULL] = None
    entry_days: int | None = Field(default=None, ge=1, le=3650)
    control_percent: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=50)
    goal: Goal | None = None
    steps: Annotated[list[Step] | None, NOT_NULL] = Field(default=None, min_length=1, max_length=50)


# Answers --------------------------------------------------------------------------------------


class JourneyOut(BaseModel):
    id: int
    name: str
    description: str
    status: str
    version: int  # the version new entries take
    trigger: dict[str, Any]
    entry_limit: str
    entry_days: int | None
    control_percent: int
    goal: dict[str, Any] | None
    steps: list[dict[str, Any]]
    created_by: str
    created_at: datetime
    updated_at: datetime


class EntryOut(BaseModel):
    id: int
    member_id: int
    version: int
    trigger_ref: str
    in_control: bool
    status: str
    step_key: str | None
    wake_at: datetime | None
    entered_at: datetime
    ended_at: datetime | None


class StepCount(BaseModel):
    key: str
    type: str
    action: str | None
    waiting: int  # entries now at this step (waiting, or due)
    outcomes: dict[str, int]  # what the step did: done, yes, no, control, skipped:<reason>, …


class FlowOut(BaseModel):
    journey_id: int
    version: int
    steps: list[StepCount]
    entries: dict[str, int]  # by status: active, converted, done, exited


class GroupOut(BaseModel):
    members: int
    converters: int
    conversion_rate: float | None
    revenue_per_member: float | None
    revenue: int  # fen, in the members' windows
    coupon_redemptions: int  # the journey's coupons redeemed
    # coupons issued, points granted, messages sent (none to the control), and coupon_discount:
    # fen the journey's redeemed coupons took off
    cost: dict[str, int]


class ReportOut(BaseModel):
    journey_id: int
    attribution_days: int
    treated: GroupOut
    control: GroupOut
    converted: dict[str, int]  # entries that reached the goal: treated, control
    uplift: dict[str, Any] | None
