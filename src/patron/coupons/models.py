"""Coupons: the templates HQ configures, the coupons members hold, and each coupon's history."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base, Timestamped


class CouponType(StrEnum):
    cash_off = "cash_off"  # 满减: in-scope spend >= threshold, `amount` off
    percent_off = "percent_off"  # 折扣: `percent_off` % off in-scope spend, capped by max_discount
    voucher = "voucher"  # 代金券: `amount` off
    gift = "gift"  # 兑换券: one `gift_sku` free
    shipping = "shipping"  # `amount` off the delivery line


class TemplateStatus(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    ended = "ended"


class ReturnOnRefund(StrEnum):
    full_refund = "full_refund"  # the coupon comes back when its order is refunded in full
    never = "never"


class CouponTemplate(Timestamped, Base):
    __tablename__ = "coupon_templates"
    __table_args__ = (
        CheckConstraint(
            "total_stock IS NULL OR issued_count <= total_stock", name="issued_within_stock"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=TemplateStatus.draft.value)
    # value, in fen unless named otherwise
    threshold: Mapped[int] = mapped_column(default=0)
    amount: Mapped[int | None]
    percent_off: Mapped[int | None]  # 15 = 15% off (8.5折)
    max_discount: Mapped[int | None]
    gift_sku: Mapped[str | None] = mapped_column(String(64))
    # validity: fixed dates, or valid_days from issue (ending 23:59:59 business time)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    valid_days: Mapped[int | None]
    # {"store_ids", "exclude_store_ids", "channels", "exclude_channels", "category_codes",
    #  "exclude_category_codes", "skus", "exclude_skus"}: an empty include list means all
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total_stock: Mapped[int | None]  # None: unlimited
    issued_count: Mapped[int] = mapped_column(default=0)
    per_member_limit: Mapped[int | None]
    per_day_limit: Mapped[int | None]  # issues per member per business day
    stacks_with_tier_discount: Mapped[bool] = mapped_column(Boolean, default=True)
    stacks_with_points: Mapped[bool] = mapped_column(Boolean, default=True)
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    transferable: Mapped[bool] = mapped_column(Boolean, default=False)
    return_on_refund: Mapped[str] = mapped_column(
        String(16), default=ReturnOnRefund.full_refund.value
    )
    created_by: Mapped[str] = mapped_column(String(100), default="")


class CouponStatus(StrEnum):
    available = "available"
    redeemed = "redeemed"
    expired = "expired"
    void = "void"


class IssueSource(StrEnum):
    """How a coupon reached its member; later domains add their paths here."""

    manual = "manual"
    upload = "upload"
    segment = "segment"
    campaign = "campaign"
    purchase_reward = "purchase_reward"
    claim = "claim"
    points_mall = "points_mall"
    recharge_package = "recharge_package"
    tier_benefit = "tier_benefit"
    journey = "journey"
    referral = "referral"
    demo = "demo"


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        # One index per row less is a tenth of a bulk issue's time: a member's few coupons are
        # listed through this one too, and the order's coupons only while redeemed.
        Index("ix_coupons_member_template", "member_id", "template_id", "issue_day"),
        Index(
            "ix_coupons_order",
            "order_id",
            postgresql_where=text("order_id IS NOT NULL"),
            sqlite_where=text("order_id IS NOT NULL"),
        ),
        Index(
            "ix_coupons_due",
            "valid_until",
            postgresql_where=text("status = 'available'"),
            sqlite_where=text("status = 'available'"),
        ),
        CheckConstraint("discount IS NULL OR discount >= 0", name="discount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # at least 12 characters from a cryptographic random source, no ambiguous characters
    code: Mapped[str] = mapped_column(String(24), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(16), default=CouponStatus.available.value)
    source: Mapped[str] = mapped_column(String(24))
    source_ref: Mapped[str] = mapped_column(String(64), default="")  # e.g. the campaign's id
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))  # issuing store
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime]
    issue_day: Mapped[date] = mapped_column(Date)  # business day of issue, for per_day_limit
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    # redemption
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    discount: Mapped[int | None]  # fen the order took off with it
    redeemed_at: Mapped[datetime | None]
    redeemed_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    # void
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str] = mapped_column(String(200), default="")


class CouponEventKind(StrEnum):
    transfer = "transfer"
    void = "void"
    redeem = "redeem"
    return_ = "return"  # its order refunded in full: available again (or expired)
    expire = "expire"
    merge = "merge"


class CouponEvent(Base):
    """A coupon's history after issue (the coupon row itself records the issue)."""

    __tablename__ = "coupon_events"
    # The coupons a member gave away or received: a coupon counts toward the issue limits of
    # the member it was issued to.
    __table_args__ = (
        Index(
            "ix_coupon_events_given",
            "from_member_id",
            postgresql_where=text("kind = 'transfer'"),
            sqlite_where=text("kind = 'transfer'"),
        ),
        Index(
            "ix_coupon_events_received",
            "to_member_id",
            postgresql_where=text("kind = 'transfer'"),
            sqlite_where=text("kind = 'transfer'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    to_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    operator: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ExpiryNotice(Base):
    """'Coupon expiring within 3 days', recorded once per coupon for later messages."""

    __tablename__ = "coupon_expiry_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    valid_until: Mapped[datetime]
    noticed_at: Mapped[datetime]
