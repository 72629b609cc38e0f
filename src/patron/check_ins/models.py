"""Daily check-in (签到): once per business day, points per day and streak bonuses."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base


class CheckInProgram(Base):
    """The chain's check-in settings: one row."""

    __tablename__ = "check_in_program"

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    points_per_day: Mapped[int] = mapped_column(default=5)
    cycle_days: Mapped[int] = mapped_column(default=7)  # 7 or 30: the streak starts over after
    # extra points on a day of the streak within the cycle: {"3": 10, "7": 50}
    streak_bonuses: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class CheckIn(Base):
    __tablename__ = "check_ins"
    __table_args__ = (
        UniqueConstraint("member_id", "business_day"),
        Index("ix_check_ins_day", "business_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    business_day: Mapped[date] = mapped_column(Date)
    streak: Mapped[int]  # consecutive days including this one, within the cycle (1..cycle_days)
    points: Mapped[int]  # the day's points
    bonus: Mapped[int] = mapped_column(default=0)  # the streak bonus on top
    checked_in_at: Mapped[datetime] = mapped_column(default=clock.now)
