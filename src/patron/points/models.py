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
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base, Timestamped


class ExpiryPolicy(StrEnum):
    rolling = "rolling"  # a lot expires N months after it was earned
    year_end = "year_end"  # earned in year Y, expires at the end of Y+1
    never = "never"


class PointsPolicy(Timestamped, Base):
    """The chain's points settings: one row."""

    __tablename__ = "points_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    expiry_policy: Mapped[str] = mapped_column(String(16), default=ExpiryPolicy.rolling.value)
    rolling_months: Mapped[int] = mapped_column(default=24)
    pending_days: Mapped[int] = mapped_column(default=0)
    points_per_yuan_value: Mapped[int] = mapped_column(default=100)  # 100 points = ¥1
    max_order_share_pct: Mapped[int] = mapped_column(default=50)
    min_burn: Mapped[int] = mapped_column(default=100)
    approval_threshold: Mapped[int] = mapped_column(default=5000)
    # A requester's adjustments of one member within this many hours count together toward the
    # threshold, so a large adjustment cannot be split into small ones.
    approval_window_hours: Mapped[int] = mapped_column(default=24)
    # Points as cash (积分抵现): an optional absolute cap of points per order, caps by category
    # ({"TOBACCO": 0, "WINE": 20}: at most that percent of the category's lines), and whether
    # points may pay an order that a coupon discounted.
    max_points_per_order: Mapped[int | None]
    category_caps: Mapped[dict[str, int]] = mapped_column(JSON, default=dict, server_default="{}")
    combine_with_coupons: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class PointsAccount(Base):
    """Cached balances, equal to what the lots and the ledger say (`patron points verify`)."""

    __tablename__ = "points_accounts"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("pending >= 0", name="pending_not_negative"),
        CheckConstraint("debt >= 0", name="debt_not_negative"),
    )

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    available: Mapped[int] = mapped_column(default=0)
    pending: Mapped[int] = mapped_column(default=0)
    debt: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class LotStatus(StrEnum):
    pending = "pending"  # earned, held for the return window
    available = "available"
    expired = "expired"
    cancelled = "cancelled"  # a pending lot whose order was refunded


class PointsLot(Base):
    __tablename__ = "points_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_within_points"),
        # Partial indexes, so that expiring a million lots writes few index entries: a lot that
        # expires or is released leaves these; only live lots are looked up by member on
        # PostgreSQL (SQLite's planner could not prove the queries imply the condition).
        Index(
            "ix_points_lots_member_status",
            "member_id",
            "status",
            "expires_at",
            postgresql_where=text("status IN ('available', 'pending')"),
        ),
        Index(
            "ix_points_lots_due",
            "expires_at",
            postgresql_where=text("status = 'available'"),
            sqlite_where=text("status = 'available'"),
        ),
        Index(
            "ix_points_lots_release",
            "release_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    points: Mapped[int]
    remaining: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    earned_at: Mapped[datetime]
    release_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # None: never expires


class EntryKind(StrEnum):
    earn = "earn"
    burn = "burn"
    expire = "expire"
    refund_reversal = "refund_reversal"
    refund_restore = "refund_restore"
    adjust = "adjust"
    merge_in = "merge_in"
    merge_out = "merge_out"
    debt_payment = "debt_payment"
    grant = "grant"  # points given (a recharge package, a campaign), not earned by an order
    grant_reversal = "grant_reversal"  # a grant taken back (its recharge refunded)


class PointsEntry(Base):
    """The ledger. A member's balance (available + pending − debt) is the sum of their entries."""

    __tablename__ = "points_entries"
    __table_args__ = (Index("ix_points_entries_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int]  # signed
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("points_lots.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    adjustment_id: Mapped[int | None] = mapped_column(ForeignKey("points_adjustments.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    operator: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200), default="")
    rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # refund_restore: burned points that could not come back because their lot had expired
    lapsed: Mapped[int] = mapped_column(default=0)
    # merge_in / merge_out: the other member of the merge
    merge_partner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # earn / debt_payment: how many of the points went to paying off debt
    debt_paid: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PointsAllocation(Base):
    """Which lots a burn or a reversal drew from, and how much: what a refund restores."""

    __tablename__ = "points_allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("points_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("points_lots.id"), index=True)
    points: Mapped[int]  # positive: taken from the lot


class RuleEffect(StrEnum):
    multiply = "multiply"  # the base points of matching spend × factor
    add_per_order = "add_per_order"
    add_per_item = "add_per_item"
    tier = "tier"  # the base points of matching spend × the member's tier's points multiplier


class PointsRule(Timestamped, Base):
    __tablename__ = "points_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(default=0)
    stackable: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    effect: Mapped[str] = mapped_column(String(16))
    # multiply: factor in hundredths (200 = ×2); add_*: points
    amount: Mapped[int]
    cap_per_order: Mapped[int | None]
    cap_per_member_day: Mapped[int | None]


class RuleAward(Base):
    """Points a rule gave a member on a business day, for the per-day cap."""

    __tablename__ = "points_rule_awards"
    __table_args__ = (UniqueConstraint("rule_id", "member_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("points_rules.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    day: Mapped[date] = mapped_column(Date)
    points: Mapped[int] = mapped_column(default=0)


class AdjustmentStatus(StrEnum):
    pending = "pending"
    applied = "applied"
    rejected = "rejected"


class PointsAdjustment(Base):
    __tablename__ = "points_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_id: Mapped[int | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[datetime | None]


class ExpiryNotice(Base):
    """'Points expiring within 30 days', recorded once per member and expiry day for campaigns."""

    __tablename__ = "points_expiry_notices"
    __table_args__ = (UniqueConstraint("member_id", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    expires_at: Mapped[datetime]
    points: Mapped[int]
    noticed_at: Mapped[datetime]
