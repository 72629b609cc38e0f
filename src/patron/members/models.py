from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.crypto import EncryptedString
from patron.core.db import Base, Timestamped


class MemberStatus(StrEnum):
    active = "active"
    merged = "merged"  # folded into another member; lookups follow merged_into_id
    erased = "erased"  # anonymized under PIPL; financial rows stay


class Channel(StrEnum):
    store = "store"
    online = "online"
    mini_program = "mini_program"
    import_ = "import"


class Gender(StrEnum):
    male = "male"
    female = "female"
    unknown = "unknown"


class Member(Timestamped, Base):
    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'merged', 'erased')", name="status"),
        Index("ix_members_store_registered", "store_id", "registered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.active.value)
    # Keyed hash of the E.164 mobile: exact lookup and uniqueness without storing it readable.
    mobile_hash: Mapped[str | None] = mapped_column(String(40), unique=True)
    mobile: Mapped[str | None] = mapped_column(EncryptedString)
    name: Mapped[str | None] = mapped_column(EncryptedString)
    # Blind indexes of the first one, two and three characters of the name, for prefix search.
    name_prefix1: Mapped[str | None] = mapped_column(String(40), index=True)
    name_prefix2: Mapped[str | None] = mapped_column(String(40), index=True)
    name_prefix3: Mapped[str | None] = mapped_column(String(40), index=True)
    gender: Mapped[str] = mapped_column(String(8), default=Gender.unknown.value)
    birthday: Mapped[str | None] = mapped_column(EncryptedString)
    # Month and day only ("05-12"), kept readable for birthday rules; the year stays encrypted.
    birthday_md: Mapped[str | None] = mapped_column(String(5), index=True)
    email: Mapped[str | None] = mapped_column(EncryptedString)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    opening_guide_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    code_secret: Mapped[str | None] = mapped_column(EncryptedString)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    erased_at: Mapped[datetime | None]
    # the chain's own staff as members: no tier discount unless the tier program allows it
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # 不接受营销: no campaign or journey treats the member and no marketing message goes to them,
    # whatever their channel consents say.
    no_marketing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class IdentityType(StrEnum):
    card_no = "card_no"
    wechat_openid = "wechat_openid"
    wechat_unionid = "wechat_unionid"
    external_id = "external_id"


class MemberIdentity(Base):
    __tablename__ = "member_identities"
    __table_args__ = (UniqueConstraint("type", "value_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    # For external ids the channel that issued it ("tmall", "jd", ...); empty otherwise.
    issuer: Mapped[str] = mapped_column(String(32), default="")
    value_hash: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(EncryptedString)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ConsentChannel(StrEnum):
    sms = "sms"
    email = "email"
    wechat = "wechat"


class MemberConsent(Base):
    """The current consent per channel; what marketing reads."""

    __tablename__ = "member_consents"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class MemberConsentEvent(Base):
    """Every grant and withdrawal, kept as evidence."""

    __tablename__ = "member_consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class AttributeType(StrEnum):
    text = "text"
    number = "number"
    date = "date"
    single_choice = "single_choice"
    multi_choice = "multi_choice"

    @property
    def is_choice(self) -> bool:
        return self in (AttributeType.single_choice, AttributeType.multi_choice)


class AttributeDefinition(Timestamped, Base):
    __tablename__ = "member_attribute_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    options: Mapped[str] = mapped_column(Text, default="[]")  # JSON list for choice types
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Id-like values (身份证号, 护照号) are encrypted and masked like the mobile.
    is_pii: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class MemberAttributeValue(Base):
    __tablename__ = "member_attribute_values"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    attribute_id: Mapped[int] = mapped_column(
        ForeignKey("member_attribute_definitions.id"), primary_key=True
    )
    value: Mapped[str | None] = mapped_column(Text)  # JSON; None when the attribute is PII
    secret_value: Mapped[str | None] = mapped_column(EncryptedString)  # JSON, for PII attributes


class GuideAssignment(Base):
    """History of who serves a member (归属导购)."""

    __tablename__ = "member_guide_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    previous_guide_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    assigned_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200), default="")
    assigned_at: Mapped[datetime] = mapped_column(default=clock.now)
