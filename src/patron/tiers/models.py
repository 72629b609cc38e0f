"""Growth value (成长值) and tiers (会员等级): the program's settings, the ladder, each member's
tier with its review date, the growth ledger, the tier history, and paid membership (付费会员)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base, Timestamped


class QualifyingMetric(StrEnum):
    rolling_12m = "rolling_12m"  # growth earned in the 12 months before now
    calendar_year = "calendar_year"  # growth earned since 1 January (business time)
    lifetime = "lifetime"


class Evaluation(StrEnum):
    anniversary = "anniversary"  # reviewed one year after entering the tier
    monthly = "monthly"  # reviewed on the first of every month


class DowngradeMode(StrEnum):
    one_step = "one_step"
    to_earned = "to_earned"  # straight to the tier the qualifying growth earns


class TierProgram(Timestamped, Base):
    """The chain's tier settings: one row."""

    __tablename__ = "tier_program"

    id: Mapped[int] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), default=QualifyingMetric.rolling_12m.value)
    evaluation: Mapped[str] = mapped_column(String(16), default=Evaluation.anniversary.value)
    grace_days: Mapped[int] = mapped_column(default=30)
    downgrade: Mapped[str] = mapped_column(String(16), default=DowngradeMode.one_step.value)
    growth_per_yuan: Mapped[int] = mapped_column(default=1)
    # growth given for actions: {"registration": 10, "profile_completed": 20, "check_in": 1}
    action_growth: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # members flagged as staff get the tier discount only when this is on
    staff_discount: Mapped[bool] = mapped_column(Boolean, default=False)
    # The cutoff (run time less grace days) the last tier review covered: a member is due when
    # one of their review dates lies after it and by the run's cutoff (tiers.review).
    reviewed_through: Mapped[datetime | None]


class Tier(Timestamped, Base):
    """A rung of the ladder; rank 0 is the base tier every member holds."""

    __tablename__ = "tiers"
    __table_args__ = (
        CheckConstraint("rank >= 0", name="rank_not_negative"),
        CheckConstraint("entry_threshold >= 0", name="entry_threshold_not_negative"),
        CheckConstraint(
            "retention_threshold >= 0 AND retention_threshold <= entry_threshold",
            name="retention_within_entry",
        ),
        CheckConstraint(
            "discount_percent >= 0 AND discount_percent < 100", name="discount_percent_range"
        ),
        CheckConstraint("points_factor >= 100", name="points_factor_at_least_one"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50))  # Chinese
    name_en: Mapped[str] = mapped_column(String(50), default="")
    rank: Mapped[int] = mapped_column(unique=True)
    entry_threshold: Mapped[int] = mapped_column(default=0)  # qualifying growth
    retention_threshold: Mapped[int] = mapped_column(default=0)
    discount_percent: Mapped[int] = mapped_column(default=0)  # 5: 5% off (95折)
    points_factor: Mapped[int] = mapped_column(default=100)  # hundredths: 150 = ×1.5
    # {"coupons": [{"template_id": 3, "count": 1}], "points": 500}
    upgrade_gift: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    birthday_gift: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MemberTier(Base):
    """A member's place on the ladder: the tier their growth holds until its review, and the
    tier a live paid membership grants; the member's tier is the higher of the two.

    `review_at` is the first review of the held tier; the later ones follow a cadence apart and
    are not written (`standing.next_review`). Neither it nor `tier_id` is indexed: the review
    scans the table once, reports count whole tiers, and every tier change (upgrade on the
    order path, downgrade in the review) would pay for the index entries. On PostgreSQL the
    pages keep a quarter free, so an order's growth and a review's downgrades (a quarter of the
    members due, in one transaction) update rows in place (HOT, no index entry)."""

    __tablename__ = "member_tiers"
    __table_args__ = (
        Index(
            "ix_member_tiers_paid_until",
            "paid_until",
            postgresql_where=text("paid_until IS NOT NULL"),
            sqlite_where=text("paid_until IS NOT NULL"),
        ),
        {"postgresql_with": {"fillfactor": 75}},
    )

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    since: Mapped[datetime]  # entered tier_id
    review_at: Mapped[datetime | None]  # None: the base tier is never reviewed
    paid_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    paid_until: Mapped[datetime | None]
    growth: Mapped[int] = mapped_column(default=0)  # lifetime, the sum of the entries
    birthday_gift_year: Mapped[int | None]  # the last year a birthday gift went out
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class GrowthKind(StrEnum):
    order = "order"
    refund = "refund"  # an order refund reverses growth in proportion
    action = "action"  # registration, completed profile, check-in
    adjust = "adjust"
    merge_in = "merge_in"
    merge_out = "merge_out"


class GrowthEntry(Base):
    """The growth ledger; qualifying growth sums the entries whose `occurred_at` falls in the
    program's window."""

    __tablename__ = "growth_entries"
    __table_args__ = (
        Index("ix_growth_entries_member_occurred", "member_id", "occurred_at"),
        Index("ix_growth_entries_member", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(16))
    growth: Mapped[int]  # signed
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    action: Mapped[str | None] = mapped_column(String(32))
    merge_partner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    operator: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200), default="")
    # when the growth counts from: the order's time for an order and its refunds
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ChangeReason(StrEnum):
    upgrade = "upgrade"
    downgrade = "downgrade"
    paid = "paid"
    paid_lapsed = "paid_lapsed"
    manual = "manual"
    merge = "merge"


class TierChange(Base):
    """The tier history: every change of a member's tier, with its reason.

    No foreign keys: each row records a change of a `member_tiers` row made in the same
    transaction (the review's in the same statement), whose own foreign keys check the member
    and the tier it moves to, and neither members nor tiers are ever deleted. A foreign key
    here checked each row again, which was most of the review's cost, and its lock on the
    member's row made the review hold the members' rows first (migration 0021)."""

    __tablename__ = "tier_changes"
    __table_args__ = (
        Index("ix_tier_changes_member", "member_id", "id"),
        Index("ix_tier_changes_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int]
    from_tier_id: Mapped[int | None]
    to_tier_id: Mapped[int]
    reason: Mapped[str] = mapped_column(String(16))
    qualifying_growth: Mapped[int | None]
    operator: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PlanTerm(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class PaidPlan(Timestamped, Base):
    """A paid membership plan: a term at a price, granting a tier or a benefit set of its own."""

    __tablename__ = "paid_plans"
    __table_args__ = (CheckConstraint("price >= 0", name="price_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    term: Mapped[str] = mapped_column(String(16))
    price: Mapped[int]  # fen
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    # its own benefits: {"discount_percent": 5, "monthly_coupons": [{"template_id": 4, ...}]}
    benefits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PaidMembershipStatus(StrEnum):
    active = "active"
    lapsed = "lapsed"


class PaidMembership(Base):
    """One paid term of a member, from a payment notice; renewals are further rows."""

    __tablename__ = "paid_memberships"
    __table_args__ = (
        Index("ix_paid_memberships_member", "member_id", "ends_at"),
        Index(
            "ix_paid_memberships_due",
            "ends_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("paid_plans.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    price: Mapped[int]  # fen paid
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_method: Mapped[str] = mapped_column(String(16))
    payment_reference: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default=PaidMembershipStatus.active.value)
    operator: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    lapsed_at: Mapped[datetime | None]
    # Months of the term whose monthly coupons (the plan's benefit set) went out.
    coupon_months: Mapped[int] = mapped_column(server_default="0")
