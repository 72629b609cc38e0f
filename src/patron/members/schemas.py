from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.reasons import Reason
from patron.core.text import MultiLine, Name, NameOrNone, SingleLine, SingleLineOrNone, TextMap
from patron.members.models import (
    AttributeType,
    Channel,
    ConsentChannel,
    Gender,
    IdentityType,
    MemberStatus,
)

CN_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
PLAIN_CN_MOBILE = re.compile(r"(?:\+86)?1[3-9][0-9]{9}\Z")
# No @ and no space in the three parts, spaces as Python's and JavaScript's \s count them both
# (Python's also takes \x1c-\x1f and \x85, JavaScript's \ufeff): the same in the OpenAPI schema.
_PART = r"[^@\s\x1c-\x1f\x85\ufeff]+"
EMAIL = re.compile(rf"{_PART}@{_PART}\.{_PART}")
# What `normalize_email` takes, for the OpenAPI schema: an address, or "" for none.
EMAIL_SCHEMA: dict[str, JsonValue] = {"pattern": f"^({EMAIL.pattern})?$"}


def normalize_mobile(raw: str) -> str:
    """A China mainland mobile as E.164 (+8613812345678); a ValueError coded `not_a_mobile`
    when it is not one.

    Written forms POS systems and input methods produce pass: `(+86)138-1234-5678`,
    `0086 13812345678`, full-width digits. Letters never do: phonenumbers would read them as
    keypad digits ("ABCD" -> 2223) or as an extension."""
    if PLAIN_CN_MOBILE.match(raw):  # the common written form, without phonenumbers' parse
        return raw if raw.startswith("+") else f"+86{raw}"
    text = unicodedata.normalize("NFKC", raw).strip()
    if any(ch.isalpha() for ch in text):
        raise _not_a_mobile("not a phone number: letters are not digits")
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise _not_a_mobile("not a phone number") from exc
    if number.extension:
        raise _not_a_mobile("not a phone number: extensions are not mobiles")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not CN_MOBILE.match(e164):
        raise _not_a_mobile("not a China mainland mobile number (1[3-9] and 11 digits)")
    return e164


def _not_a_mobile(message: str) -> PydanticCustomError:
    return PydanticCustomError(Reason.not_a_mobile.value, message)


def _mobile(value: str) -> str:
    return normalize_mobile(value)


def normalize_email(value: str) -> str:
    """An e-mail address, lower-cased; a ValueError coded `not_an_email` when it is not one (the
    API's and the import's rule)."""
    if not EMAIL.fullmatch(value) or len(value) > 254:
        raise PydanticCustomError(Reason.not_an_email.value, "not an email address")
    return value.strip().lower()


def _email(value: str | None) -> str | None:
    return None if value in (None, "") else normalize_email(value or "")


class IdentityIn(Input):
    type: IdentityType
    value: SingleLine = Field(min_length=1, max_length=128)
    issuer: SingleLine = Field(
        default="", max_length=32, description="for external ids: tmall, jd, ..."
    )


class IdentityOut(BaseModel):
    id: int
    type: IdentityType
    issuer: str
    value: str
    created_at: datetime


class MemberCreate(Input):
    mobile: SingleLine = Field(max_length=32, examples=["13812345678"])
    name: Name = Field(min_length=1, max_length=50)
    gender: Gender = Gender.unknown
    birthday: date | None = None
    email: SingleLineOrNone = Field(default=None, max_length=254, json_schema_extra=EMAIL_SCHEMA)
    store_id: RowId | None = None
    guide_id: RowId | None = None
    channel: Channel = Channel.store
    consents: dict[ConsentChannel, bool] = Field(default_factory=dict)
    identities: list[IdentityIn] = Field(default_factory=list)
    attributes: TextMap = Field(default_factory=dict)

    _check_mobile = field_validator("mobile")(_mobile)
    _check_email = field_validator("email")(_email)


class MemberUpdate(Input):
    # Either may be left out but not removed.
    mobile: Annotated[SingleLineOrNone, NOT_NULL] = Field(default=None, max_length=32)
    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=50)
    gender: Gender | None = None
    birthday: date | None = None
    email: SingleLineOrNone = Field(default=None, max_length=254, json_schema_extra=EMAIL_SCHEMA)
    attributes: TextMap | None = None
    is_staff: Annotated[bool | None, NOT_NULL] = Field(
        default=None,
        description="the chain's own staff: no tier discount unless the tier program allows it "
        "(hq_admin only)",
    )
    no_marketing: Annotated[bool | None, NOT_NULL] = Field(
        default=None,
        description="不接受营销: no campaign, journey or marketing message reaches the member",
    )

    @field_validator("mobile")
    @classmethod
    def _check_mobile(cls, value: str | None) -> str | None:
        return None if value is None else normalize_mobile(value)

    _check_email = field_validator("email")(_email)


class ConsentIn(Input):
    channel: ConsentChannel
    granted: bool
    source: SingleLine = Field(default="api", min_length=1, max_length=64)


class ConsentOut(BaseModel):
    channel: ConsentChannel
    granted: bool
    source: str
    recorded_at: datetime


class GuideChange(Input):
    guide_id: RowId | None
    reason: MultiLine = Field(default="", max_length=200)


class GuideAssignmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    guide_id: int | None
    previous_guide_id: int | None
    assigned_by: str
    reason: str
    assigned_at: datetime


class MemberSummary(BaseModel):
    id: int
    status: MemberStatus
    mobile: str | None
    name: str | None
    gender: Gender
    store_id: int | None
    guide_id: int | None
    channel: Channel
    registered_at: datetime


class MemberOut(MemberSummary):
    birthday: str | None
    email: str | None
    opening_guide_id: int | None
    merged_into_id: int | None
    pii_masked: bool
    is_staff: bool
    no_marketing: bool
    identities: list[IdentityOut]
    consents: list[ConsentOut]
    attributes: dict[str, Any]


class MemberCodeOut(BaseModel):
    code: str
    expires_at: datetime


class MergeRequest(Input):
    source_id: RowId
    target_id: RowId


class EraseRequest(Input):
    reason: MultiLine = Field(default="member request (PIPL)", max_length=200)


class AttributeCreate(Input):
    code: SingleLine = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["baby_birthday"])
    label: Name = Field(min_length=1, max_length=64, examples=["宝宝生日"])
    type: AttributeType
    options: list[SingleLine] = Field(default_factory=list)
    required: bool = False
    is_pii: bool = False


class AttributeUpdate(Input):
    label: NameOrNone = Field(default=None, min_length=1, max_length=64)
    options: list[SingleLine] | None = None
    required: bool | None = None
    is_active: bool | None = None


class AttributeOut(BaseModel):
    id: int
    code: str
    label: str
    type: AttributeType
    options: list[str]
    required: bool
    is_pii: bool
    is_active: bool


class ImportRowError(BaseModel):
    row: int
    field: str
    code: Reason
    reason: str


class ImportReport(BaseModel):
    dry_run: bool
    rows: int
    created: int
    updated: int
    skipped: int
    errors: list[ImportRowError]


class TimelineEventOut(BaseModel):
    at: datetime
    kind: str
    summary: str
    data: dict[str, Any]
