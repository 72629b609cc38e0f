"""Campaigns, their frozen audience (treated and control members) and what each action did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, Timestamped


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    running = "running"
    done = "done"
    cancelled = "cancelled"


class Campaign(Timestamped, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'scheduled', 'running', 'done', 'cancelled')", name="status"
        ),
        CheckConstraint("control_percent BETWEEN 0 AND 50", name="control_percent_range"),
        CheckConstraint("attribution_days BETWEEN 1 AND 365", name="attribution_days_range"),
        Index("ix_campaigns_status_schedule_at", "status", "schedule_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    # The audience: a saved segment or a rule of the segment language.
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    rule: Mapped[str | None] = mapped_column(Text)
    # The rule the audience was drawn with, recorded at launch (a segment's rule may change later).
    launched_rule: Mapped[str | None] = mapped_column(Text)
    # [{"type": "issue_coupon", "template_id": 3} | {"type": "grant_points", ...} | ...]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    control_percent: Mapped[int] = mapped_column(default=10)
    # Required when control_percent is 0: why this campaign is not measured.
    control_reason: Mapped[str] = mapped_column(String(200), default="")
    # The seed of the control draw, recorded so the draw can be repeated and checked.
    seed: Mapped[int] = mapped_column(BigInteger)
    attribution_days: Mapped[int] = mapped_column(default=14)
    budget_coupons: Mapped[int | None]
    budget_points: Mapped[int | None]
    budget_messages: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.draft.value)
    schedule_at: Mapped[datetime | None]
    launched_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    audience_size: Mapped[int | None]
    control_size: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(String(100), default="")


class CampaignMember(Base):
    """One member of the frozen audience. Treated members are pending until `treated_at` (every
    action done, or skipped with `skip_reason` for the whole member); control members get
    nothing."""

    __tablename__ = "campaign_members"
    __table_args__ = (
        Index("ix_campaign_members_group", "campaign_id", "in_control", "member_id"),
        Index("ix_campaign_members_member", "member_id"),
        # Half of each page free: marking a member treated rewrites the row in place.
        {"postgresql_with": {"fillfactor": 50}},
    )

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    in_control: Mapped[bool]
    treated_at: Mapped[datetime | None]
    skip_reason: Mapped[str | None] = mapped_column(String(32))


class CampaignOutcome(Base):
    """How many members each action reached (`done`) or skipped, by reason (`no_consent`,
    `frequency_cap`, `budget`, `no_marketing`, `limit_reached`, …)."""

    __tablename__ = "campaign_outcomes"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    action_index: Mapped[int] = mapped_column(primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    members: Mapped[int] = mapped_column(default=0)
    # Coupons issued, points granted, messages queued by this action (for cost and budgets).
    units: Mapped[int] = mapped_column(BigInteger, default=0)
