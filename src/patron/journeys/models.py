"""Journeys, their versions (a definition changed while running versions itself), each member's
entry and position, and what happened at each step."""

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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, Timestamped


class JourneyStatus(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    archived = "archived"


class EntryStatus(StrEnum):
    active = "active"  # at a step, or waiting until wake_at
    converted = "converted"  # reached the goal: ended early, counts as a conversion
    done = "done"  # walked to an exit
    exited = "exited"  # left for another reason (member merged or erased, journey archived)


class Journey(Timestamped, Base):
    __tablename__ = "journeys"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'paused', 'archived')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default=JourneyStatus.draft.value)
    # The version new entries take (journey_versions.version); earlier versions keep running
    # for the members inside them.
    current_version: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class JourneyVersion(Base):
    """One frozen definition: trigger, entry limit, control share, goal and steps."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    version: Mapped[int]
    # {"event": "member.registered"} | {"event": "birthday", "days_before": 7} | …
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON)
    # "once" | "every_n_days" (with entry_days)
    entry_limit: Mapped[str] = mapped_column(String(16), default="once")
    entry_days: Mapped[int | None]
    control_percent: Mapped[int] = mapped_column(default=10)
    # {"type": "purchase", "days": 14} or null
    goal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # [{"key": "s1", "type": "wait", ...}, {"key": "s2", "type": "condition", ...}, …]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100), default="")


class JourneyEntry(Base):
    """A member inside a journey version: where they are, when they wake, how it ended."""

    __tablename__ = "journey_entries"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'converted', 'done', 'exited')", name="status"),
        # One entry per triggering occurrence: a retried trigger enters nobody twice.
        UniqueConstraint("journey_id", "member_id", "trigger_ref"),
        Index("ix_journey_entries_due", "status", "wake_at"),
        Index("ix_journey_entries_member_entered", "member_id", "journey_id", "entered_at"),
        Index("ix_journey_entries_version_control", "version_id", "in_control"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("journey_versions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    trigger_ref: Mapped[str] = mapped_column(String(64))
    in_control: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16), default=EntryStatus.active.value)
    step_key: Mapped[str | None] = mapped_column(String(32))  # null once ended
    wake_at: Mapped[datetime | None]
    entered_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class JourneyStepRun(Base):
    """What one step did for one entry (an action's outcome, a branch taken, a skip reason):
    the flow view's counts per step and a member's trail."""

    __tablename__ = "journey_step_runs"
    __table_args__ = (
        Index("ix_journey_step_runs_entry", "entry_id"),
        Index("ix_journey_step_runs_version_step", "version_id", "step_key", "outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journey_entries.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("journey_versions.id"))
    step_key: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))  # done | yes | no | skipped:<reason> | …
    ran_at: Mapped[datetime]
