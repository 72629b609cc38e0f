"""Message channels, templates and the delivery log of every message sent (or not) to anyone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.crypto import EncryptedString
from patron.core.db import Base, Timestamped


class ChannelSetting(Timestamped, Base):
    """How a channel (sms, email, wechat, webhook) sends: its provider and that provider's keys,
    kept encrypted (a JSON object as text)."""

    __tablename__ = "message_channels"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))  # log | aliyun | tencent | smtp | wechat | …
    enabled: Mapped[bool] = mapped_column(default=True)
    config: Mapped[str] = mapped_column(EncryptedString(4000), default="{}")


class MessageTemplate(Timestamped, Base):
    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("code", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))  # e.g. points_expiring
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))  # marketing | transactional
    name: Mapped[str] = mapped_column(String(100), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    # SMS providers send by their own approved template code and signature (签名).
    provider_template: Mapped[str] = mapped_column(String(64), default="")
    sign_name: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(default=True)


class Message(Base):
    """One message to one recipient: queued, deferred (quiet hours), sent, failed, or skipped with
    the reason (no consent, frequency cap, no address, …)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_member_channel_created", "member_id", "channel", "created_at"),
        Index("ix_messages_due", "status", "send_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    channel: Mapped[str] = mapped_column(String(16))
    template_code: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(EncryptedString)
    recipient_masked: Mapped[str] = mapped_column(String(64), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(64), default="")  # e.g. points.expiry, campaign:7
    # Set by callers that must not send twice (a notice, a campaign's member): unique.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    send_after: Mapped[datetime] = mapped_column(default=clock.now)
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str] = mapped_column(String(100), default="")
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None]
