"""The check-in API's bodies and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from patron.check_ins.models import CheckIn
from patron.check_ins.program import Program
from patron.check_ins.reports import Report
from patron.check_ins.service import Calendar, Reward
from patron.core.inputs import Input

POINTS_MAX = 100_000
MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
Bonus = Annotated[int | None, Field(ge=1, le=POINTS_MAX)]


class StreakBonusesIn(Input):
    """Extra points on days of the streak, keyed by the day ("1".."30"); a day past cycle_days
    is refused (bonus_day_outside_cycle), a day left out or null gives no bonus."""

    day_1: Bonus = Field(default=None, alias="1")
    day_2: Bonus = Field(default=None, alias="2")
    day_3: Bonus = Field(default=None, alias="3")
    day_4: Bonus = Field(default=None, alias="4")
    day_5: Bonus = Field(default=None, alias="5")
    day_6: Bonus = Field(default=None, alias="6")
    day_7: Bonus = Field(default=None, alias="7")
    day_8: Bonus = Field(default=None, alias="8")
    day_9: Bonus = Field(default=None, alias="9")
    day_10: Bonus = Field(default=None, alias="10")
    day_11: Bonus = Field(default=None, alias="11")
    day_12: Bonus = Field(default=None, alias="12")
    day_13: Bonus = Field(default=None, alias="13")
    day_14: Bonus = Field(default=None, alias="14")
    day_15: Bonus = Field(default=None, alias="15")
    day_16: Bonus = Field(default=None, alias="16")
    day_17: Bonus = Field(default=None, alias="17")
    day_18: Bonus = Field(default=None, alias="18")
    day_19: Bonus = Field(default=None, alias="19")
    day_20: Bonus = Field(default=None, alias="20")
    day_21: Bonus = Field(default=None, alias="21")
    day_22: Bonus = Field(default=None, alias="22")
    day_23: Bonus = Field(default=None, alias="23")
    day_24: Bonus = Field(default=None, alias="24")
    day_25: Bonus = Field(default=None, alias="25")
    day_26: Bonus = Field(default=None, alias="26")
    day_27: Bonus = Field(default=None, alias="27")
    day_28: Bonus = Field(default=None, alias="28")
    day_29: Bonus = Field(default=None, alias="29")
    day_30: Bonus = Field(default=None, alias="30")

    def by_day(self) -> dict[str, int]:
        found = self.model_dump(by_alias=True, exclude_none=True)
        return {day: int(points) for day, points in found.items()}


class ProgramIn(Input):
    """The whole program; a field left out takes its default."""

    enabled: bool = True
    points_per_day: int = Field(default=5, ge=0, le=POINTS_MAX)
    cycle_days: Literal[7, 30] = Field(
        default=7, description="the streak starts over at 1 after this many days"
    )
    streak_bonuses: StreakBonusesIn = Field(
        default_factory=StreakBonusesIn,
        description='extra points on a day of the streak, {"3": 10, "7": 50}: each day at most '
        "cycle_days (else bonus_day_outside_cycle)",
    )

    def values(self) -> dict[str, Any]:
        """What `program.save_program` takes."""
        return {
            "enabled": self.enabled,
            "points_per_day": self.points_per_day,
            "cycle_days": self.cycle_days,
            "streak_bonuses": self.streak_bonuses.by_day(),
        }


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
