"""The check-in report: per business day the check-ins and the points they gave; over the
range the distinct members, the points, and how many check-ins fell on each day of the streak.
HQ sees the chain; a store manager the check-ins of their stores' members (by home store)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from patron.check_ins import permissions
from patron.check_ins.models import CheckIn
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.export import Cell
from patron.core.reasons import Reason
from patron.members.models import Member

MAX_DAYS = 366
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class Table(StrEnum):
    days = "days"
    streaks = "streaks"


@dataclass(frozen=True)
class Day:
    day: date
    check_ins: int
    points: int  # the day's points and streak bonuses together
    bonus: int  # of which streak bonuses


@dataclass(frozen=True)
class StreakCount:
    streak: int
    check_ins: int


@dataclass(frozen=True)
class Report:
    first: date
    last: date
    days: list[Day]
    members: int  # distinct members who checked in over the range
    check_ins: int
    points: int
    streaks: list[StreakCount]


DAY_COLUMNS = ("business_day", "check_ins", "points", "bonus")
STREAK_COLUMNS = ("streak", "check_ins")


def report(session: Session, actor: Actor, first: date, last: date) -> Report:
    permissions.VIEW_REPORT.check(actor)
    if first > last:
        raise InvalidInput("to", "is before from", code=Reason.dates_reversed)
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(
            "to", f"the range spans more than {MAX_DAYS} days", code=Reason.out_of_range
        )

    def scoped(query: S) -> S:
        return _scoped(query, actor, first, last)

    days = [
        Day(day, int(count), int(points or 0), int(bonus or 0))
        for day, count, points, bonus in session.execute(
            scoped(
                select(
                    CheckIn.business_day,
                    func.count(),
                    func.sum(CheckIn.points + CheckIn.bonus),
                    func.sum(CheckIn.bonus),
                )
            )
            .group_by(CheckIn.business_day)
            .order_by(CheckIn.business_day)
        )
    ]
    members = session.scalar(scoped(select(func.count(func.distinct(CheckIn.member_id))))) or 0
    streaks = [
        StreakCount(int(streak), int(count))
        for streak, count in session.execute(
            scoped(select(CheckIn.streak, func.count()))
            .group_by(CheckIn.streak)
            .order_by(CheckIn.streak)
        )
    ]
    return Report(
        first,
        last,
        days,
        int(members),
        sum(d.check_ins for d in days),
        sum(d.points for d in days),
        streaks,
    )


def _scoped(query: S, actor: Actor, first: date, last: date) -> S:
    query = query.where(CheckIn.business_day >= first, CheckIn.business_day <= last)
    if actor.store_ids is not None:
        query = query.join(Member, Member.id == CheckIn.member_id).where(
            Member.store_id.in_(sorted(actor.store_ids))
        )
    return query


def day_rows(found: Report) -> Iterator[list[Cell]]:
    for d in found.days:
        yield [d.day, d.check_ins, d.points, d.bonus]


def streak_rows(found: Report) -> Iterator[list[Cell]]:
    for s in found.streaks:
        yield [s.streak, s.check_ins]
