from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from patron.core.inputs import NOT_NULL, Input
from patron.core.text import NameOrNone, SingleLine, SingleLineOrNone
from patron.coupons.schemas import CouponOut
from patron.members.models import ConsentChannel, Gender
from patron.members.schemas import EMAIL_SCHEMA, _email, normalize_mobile
from patron.orders.schemas import OrderOut
from patron.points.schemas import EntryOut, ExpiringOut
from patron.tiers.schemas import MemberTierOut


class ConsentState(BaseModel):
    channel: ConsentChannel
    granted: bool
    recorded_at: datetime | None


class MeOut(BaseModel):
    id: int
    name: str | None
    mobile: str | None
    email: str | None
    gender: Gender
    birthday: str | None
    birthday_editable: bool = Field(description="false once the birthday is set (set once)")
    registered_at: datetime
    consents: list[ConsentState]


class MeUpdate(Input):
    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=50)
    birthday: Annotated[date | None, NOT_NULL] = Field(
        default=None, description="set once; later changes are 409 birthday_already_set"
    )
    email: SingleLineOrNone = Field(default=None, max_length=254, json_schema_extra=EMAIL_SCHEMA)

    _check_email = field_validator("email")(_email)


class ConsentIn(Input):
    granted: bool


class MePointsOut(BaseModel):
    available: int
    pending: int = Field(description="earned, released after the holding period")
    expiring_soon: int = Field(description="points expiring within expiring_soon_days")
    expiring_soon_days: int
    expiring: list[ExpiringOut] = Field(description="the next expiry dates and their points")
    history: list[EntryOut]
    next_cursor: str | None


class MeCouponsOut(BaseModel):
    items: list[CouponOut]
    next_cursor: str | None


class TransferByMobile(Input):
    mobile: SingleLine = Field(max_length=32, examples=["13812345678"])

    @field_validator("mobile")
    @classmethod
    def _check_mobile(cls, value: str) -> str:
        return normalize_mobile(value)


class MeOrdersOut(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class MeTierOut(MemberTierOut):
    progress_percent: int = Field(description="0-100: qualifying growth toward next_tier")
    upgrade_gift: dict[str, object] = Field(default_factory=dict)
    birthday_gift: dict[str, object] = Field(default_factory=dict)


class MeStoredValueOut(BaseModel):
    principal: int
    bonus: int
    balance: int


class ErasureIn(Input):
    confirm: Literal[True] = Field(description="must be true: erasure cannot be undone")


class ErasureOut(BaseModel):
    erased: bool
