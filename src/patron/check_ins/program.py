"""The check-in program: the chain's one row of settings (on or off, points per day, the
streak's cycle of 7 or 30 days, extra points on given days of the streak), read with its
defaults until HQ saves it (nothing is written on a read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.check_ins import permissions
from patron.check_ins.models import CheckInProgram
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason

CYCLES = (7, 30)


@dataclass(frozen=True)
class Program:
    enabled: bool = True
    points_per_day: int = 5
    cycle_days: int = 7
    # extra points on a day of the streak: {"3": 10, "7": 50}
    streak_bonuses: dict[str, int] = field(default_factory=dict)

    def bonus_on(self, streak: int) -> int:
        return int(self.streak_bonuses.get(str(streak), 0))

    def next_streak(self, previous: int) -> int:
        """The streak of a check-in the day after one at `previous` (0: none that day): after
        the cycle's last day it starts over at 1."""
        return previous + 1 if 0 < previous < self.cycle_days else 1


FIELDS = tuple(Program.__dataclass_fields__)


def program(session: Session) -> Program:
    row = session.scalar(select(CheckInProgram).order_by(CheckInProgram.id).limit(1))
    if row is None:
        return Program()
    return _of(row)


def _of(row: CheckInProgram) -> Program:
    bonuses = {str(day): int(points) for day, points in (row.streak_bonuses or {}).items()}
    return Program(
        enabled=row.enabled,
        points_per_day=row.points_per_day,
        cycle_days=row.cycle_days,
        streak_bonuses=dict(sorted(bonuses.items(), key=lambda item: int(item[0]))),
    )


def bonus_days(cycle_days: int, bonuses: dict[str, int]) -> dict[str, int]:
    """The bonuses keyed by day number ("03" is "3"), by day; 422 bonus_day_outside_cycle for a
    key that is not a day from 1 to `cycle_days`."""
    days: dict[int, int] = {}
    for key, points in bonuses.items():
        day = int(key) if key.isascii() and key.isdigit() and len(key) <= 3 else 0
        if not 1 <= day <= cycle_days:
            raise InvalidInput(
                f"streak_bonuses.{key}",
                f"a day of the streak, from 1 to {cycle_days}",
                code=Reason.bonus_day_outside_cycle,
            )
        days[day] = int(points)
    return {str(day): days[day] for day in sorted(days)}


def save_program(session: Session, actor: Actor, values: dict[str, Any]) -> Program:
    """Replace the settings with `values` (every field), creating the row when missing."""
    permissions.EDIT_PROGRAM.check(actor)
    if values["cycle_days"] not in CYCLES:
        raise InvalidInput("cycle_days", "7 or 30", code=Reason.not_a_choice)
    bonuses = bonus_days(values["cycle_days"], values["streak_bonuses"])
    row = session.scalar(
        select(CheckInProgram).order_by(CheckInProgram.id).limit(1).with_for_update()
    )
    before = None if row is None else vars(_of(row))
    if row is None:
        row = CheckInProgram()
        session.add(row)
    row.enabled = bool(values["enabled"])
    row.points_per_day = int(values["points_per_day"])
    row.cycle_days = int(values["cycle_days"])
    row.streak_bonuses = bonuses
    session.flush()
    saved = _of(row)
    audit.record(
        session,
        actor,
        "check_ins.program_update",
        "check_in_program",
        row.id,
        before=before,
        after=vars(saved),
    )
    return saved
