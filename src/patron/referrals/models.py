"""Referral (推荐有礼): a member's invite code; both sides rewarded on the invitee's first paid
order, within limits."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base


class ReferralStatus(StrEnum):
    pending = "pending"  # registered, no paid order yet
    rewarded = "rewarded"
    rejected = "rejected"  # `reason` says why (self_referral, monthly_cap, ...)
    reversed = "reversed"  # the first order was fully refunded within the window


class ReferralProgram(Base):
    """The chain's referral settings: one row."""

    __tablename__ = "referral_program"

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    referrer_points: Mapped[int] = mapped_column(default=200)
    referrer_coupon_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_templates.id")
    )
    invitee_points: Mapped[int] = mapped_column(default=100)
    invitee_coupon_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_templates.id")
    )
    monthly_cap: Mapped[int] = mapped_column(default=10)  # rewards per referrer per month
    reversal_days: Mapped[int] = mapped_column(default=30)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class ReferralCode(Base):
    __tablename__ = "referral_codes"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_referrer", "referrer_id", "rewarded_at"),
        Index("ix_referrals_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    invitee_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    code: Mapped[str] = mapped_column(String(16))
    device_hash: Mapped[str] = mapped_column(String(64), default="")  # the invitee's, at sign-up
    status: Mapped[str] = mapped_column(String(16), default=ReferralStatus.pending.value)
    reason: Mapped[str] = mapped_column(String(32), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))  # the first paid order
    registered_at: Mapped[datetime] = mapped_column(default=clock.now)
    rewarded_at: Mapped[datetime | None]
    reversed_at: Mapped[datetime | None]
