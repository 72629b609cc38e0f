"""The check-in API's bodies and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from patron.check_ins.models import CheckIn
from patron.check_ins.program import Program
from patron.check_ins.reports import Report
from patron.check_ins.service import Calendar, Reward
from patron.core.inputs import Input
from patron.core.text import single_line

POINTS_MAX = 100_000
MAX_BONUS_DAYS = 30
# A day of the streak, 1..30 (the cycle's length bounds it further: bonus_day_beyond_cycle).
BonusDay = Annotated[
    str,
    BeforeValidator(single_line),
    StringConstraints(pattern=r"^([1-9]|[12][0-9]|30)$"),
]
MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"


class ProgramIn(Input):
    """The whole program; a field left out takes its default."""

    enabled: bool = True
    points_per_day: int = Field(default=5, ge=0, le=POINTS_MAX)
    cycle_days: Literal[7, 30] = Field(
        default=7, description="the streak starts over at 1 after this many days"
    )
    streak_bonuses: dict[BonusDay, Annotated[int, Field(ge=1, le=POINTS_MAX)]] = Field(
        default_factory=dict,
        max_length=MAX_BONUS_DAYS,
        description='extra points on a day of the streak, {"3": 10, "7": 50}; each day at most '
        "cycle_days (bonus_day_beyond_cycle)",
    )


class ProgramOut(BaseModel):
    enabled: bool
    points_per_day: int
    cycle_days: int
    streak_bonuses: dict[str, int]

    @classmethod
    def of(cls, found: Program) -> ProgramOut:
        return cls(**vars(found))


class CheckInIn(Input):
    """No fields: the member checks in for today (business time)."""


class CheckInOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    business_day: date
    streak: int
    points: int
    bonus: int
    checked_in_at: datetime


class RewardOut(BaseModel):
    business_day: date
    streak: int
    points: int
    bonus: int
    total: int

    @classmethod
    def of(cls, given: Reward) -> RewardOut:
        return cls(
            business_day=given.business_day,
            streak=given.streak,
            points=given.points,
            bonus=given.bonus,
            total=given.total,
        )


class CheckedInOut(CheckInOut):
    """Today's check-in, what it gave (points + bonus), and what tomorrow's would give."""

    total: int
    tomorrow: RewardOut


class CalendarOut(BaseModel):
    month: str
    today: date
    enabled: bool
    cycle_days: int
    checked_in_today: bool
    today_check_in: CheckInOut | None
    current_streak: int
    next_check_in: RewardOut = Field(
        description="what the next check-in gives: today's while today is open, else tomorrow's"
    )
    days: list[CheckInOut]

    @classmethod
    def of(cls, found: Calendar) -> CalendarOut:
        return cls(
            month=f"{found.month:%Y-%m}",
            today=found.today,
            enabled=found.program.enabled,
            cycle_days=found.program.cycle_days,
            checked_in_today=found.checked_in is not None,
            today_check_in=CheckInOut.model_validate(found.checked_in)
            if found.checked_in
            else None,
            current_streak=found.streak,
            next_check_in=RewardOut.of(found.next),
            days=[CheckInOut.model_validate(c) for c in found.days],
        )


def check_in_out(row: CheckIn, tomorrow: Reward) -> CheckedInOut:
    return CheckedInOut(
        **CheckInOut.model_validate(row).model_dump(),
        total=row.points + row.bonus,
        tomorrow=RewardOut.of(tomorrow),
    )


class ReportDayOut(BaseModel):
    business_day: date
    check_ins: int
    points: int
    bonus: int


class StreakCountOut(BaseModel):
    streak: int
    check_ins: int


class ReportOut(BaseModel):
    first: date
    last: date
    check_ins: int
    members: int
    points: int
    days: list[ReportDayOut]
    streaks: list[StreakCountOut]

    @classmethod
    def of(cls, found: Report) -> ReportOut:
        return cls(
            first=found.first,
            last=found.last,
            check_ins=found.check_ins,
            members=found.members,
            points=found.points,
            days=[
                ReportDayOut(
                    business_day=d.day, check_ins=d.check_ins, points=d.points, bonus=d.bonus
                )
                for d in found.days
            ],
            streaks=[StreakCountOut(streak=s.streak, check_ins=s.check_ins) for s in found.streaks],
        )
