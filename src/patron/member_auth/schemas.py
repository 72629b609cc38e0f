from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from patron.core.inputs import Input
from patron.core.text import NameOrNone, SingleLine, SingleLineOrNone
from patron.members.schemas import normalize_mobile

CODE_PATTERN = r"^[0-9]{6}$"


def _mobile(value: str) -> str:
    return normalize_mobile(value)


class CodeRequest(Input):
    mobile: SingleLine = Field(max_length=32, examples=["13812345678"])

    _check_mobile = field_validator("mobile")(_mobile)


class CodeSent(BaseModel):
    status: str = Field(default="sent", description="always `sent`, member or not")
    expires_in: int = Field(description="seconds the code is good for, once it arrives")
    resend_after: int = Field(description="seconds before another code may be asked for")


class TokenRequest(Input):
    mobile: SingleLine = Field(max_length=32, examples=["13812345678"])
    code: SingleLine = Field(pattern=CODE_PATTERN, examples=["123456"])

    _check_mobile = field_validator("mobile")(_mobile)


class MarketingConsent(Input):
    """Marketing consent per channel, asked explicitly: nothing is granted unless ticked."""

    sms: bool = False
    email: bool = False
    wechat: bool = False


class RegisterRequest(Input):
    mobile: SingleLine = Field(max_length=32, examples=["13812345678"])
    code: SingleLine = Field(pattern=CODE_PATTERN, examples=["123456"])
    name: NameOrNone = Field(default=None, min_length=1, max_length=50)
    marketing_consent: MarketingConsent = Field(default_factory=MarketingConsent)
    invite_code: SingleLineOrNone = Field(default=None, max_length=32)

    _check_mobile = field_validator("mobile")(_mobile)


class MemberTokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    member_id: int
