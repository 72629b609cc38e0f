from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.text import SingleLine
from patron.referrals.models import ReferralStatus

MAX_REWARD_POINTS = 1_000_000


class ProgramIn(Input):
    """The whole program (PUT): every field given."""

    enabled: bool
    referrer_points: int = Field(ge=0, le=MAX_REWARD_POINTS, description="points for the referrer")
    referrer_coupon_template_id: RowId | None = Field(
        description="a coupon for the referrer too; null: none"
    )
    invitee_points: int = Field(ge=0, le=MAX_REWARD_POINTS, description="points for the new member")
    invitee_coupon_template_id: RowId | None = Field(
        description="a coupon for the new member too; null: none"
    )
    monthly_cap: int = Field(
        ge=0, le=10_000, description="rewards one referrer gets per calendar month (business time)"
    )
    reversal_days: int = Field(
        ge=0,
        le=365,
        description="a full refund of the first order within this many days of it "
        "takes both rewards back",
    )


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    enabled: bool
    referrer_points: int
    referrer_coupon_template_id: int | None
    invitee_points: int
    invitee_coupon_template_id: int | None
    monthly_cap: int
    reversal_days: int
    updated_at: datetime


class InviteIn(Input):
    code: SingleLine = Field(min_length=1, max_length=16, description="the friend's invite code")


class ReferralOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    referrer_id: int
    invitee_id: int
    code: str
    status: ReferralStatus
    reason: str = Field(description="why rejected (same_device, same_payment, monthly_cap, ...)")
    order_id: int | None
    registered_at: datetime
    rewarded_at: datetime | None
    reversed_at: datetime | None


class InviteeOut(BaseModel):
    mobile: str = Field(description="masked")
    status: ReferralStatus
    reason: str
    registered_at: datetime
    rewarded_at: datetime | None
    points: int = Field(description="points the referrer got for this invitee (net)")


class MyReferralOut(BaseModel):
    code: str
    link: str
    qr_svg: str = Field(description="the link as a QR symbol, inline SVG")
    invited: int
    rewarded: int
    pending: int
    points: int = Field(description="points earned by inviting, net of reversals")
    invitees: list[InviteeOut] = Field(description="newest first, at most 100")


class TopReferrerOut(BaseModel):
    member_id: int
    mobile: str = Field(description="masked")
    invites: int
    rewarded: int


class ReportOut(BaseModel):
    first: date = Field(serialization_alias="from")
    last: date = Field(serialization_alias="to")
    invites: int
    pending: int
    rewarded: int
    reversed: int
    rejected: int
    rejected_by_reason: dict[str, int]
    points_given: int
    coupons_given: int
    top_referrers: list[TopReferrerOut]
