"""Buyers counted from the linked member days (`MemberDay` chain-wide, `MemberStoreDay` at each
store): a member's first day of a period is a row of it with no previous day in it, and they
bought again in it when that row's next day is in it too. So the buyers of any period, per day,
month or store, are counts over the period's rows instead of a group per member.

They answer a query without a channel, chain-wide or for one store (and, per store, for any
stores); other queries group the member facts per member (`figures`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from patron.reports.member_facts import number_of
from patron.reports.models import MemberDay, MemberStoreDay
from patron.reports.query import Period, ReportQuery


@dataclass(frozen=True)
class Buyers:
    buyers: int = 0
    repeat: int = 0  # who bought on two business days or more

    def __add__(self, other: Buyers) -> Buyers:
        return Buyers(self.buyers + other.buyers, self.repeat + other.repeat)

    @property
    def repurchase_rate(self) -> float | None:
        return round(self.repeat / self.buyers, 4) if self.buyers else None


@dataclass(frozen=True)
class Linked:
    days: Any  # MemberDay or MemberStoreDay
    where: tuple[ColumnElement[bool], ...] = ()

    def between(self, first: date, last: date) -> list[ColumnElement[bool]]:
        return [self.days.day >= first, self.days.day <= last, *self.where]

    def first_in(self, period: Period) -> ColumnElement[bool]:
        """A day that is its member's first of the period."""
        days = self.days
        return and_(
            days.day >= period.first,
            days.day <= period.last,
            or_(days.previous_day.is_(None), days.previous_day < period.first),
        )

    def again_in(self, period: Period) -> ColumnElement[bool]:
        """A member's first day of the period, with another day of purchase in it."""
        return and_(self.first_in(period), self.days.next_day <= period.last)


def linked_days(query: ReportQuery) -> Linked | None:
    """The linked days that answer the query: every member's days chain-wide, their days at
    the store for one store; None for a channel or several stores."""
    if query.channel is not None:
        return None
    if query.store_ids is None:
        return Linked(MemberDay)
    if len(query.store_ids) == 1:
        (store_id,) = query.store_ids
        return Linked(MemberStoreDay, (MemberStoreDay.store_id == store_id,))
    return None


def counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def buyers_with_daily(
    session: Session, linked: Linked, period: Period
) -> tuple[Buyers, dict[date, int]]:
    """The period's buyers, and each day's."""
    days = linked.days
    rows = session.execute(
        select(
            days.day,
            func.count(),
            counted(linked.first_in(period)),
            counted(linked.again_in(period)),
        )
        .where(*linked.between(period.first, period.last))
        .group_by(days.day)
    ).all()
    found = Buyers(sum(int(r[2]) for r in rows), sum(int(r[3]) for r in rows))
    return found, {day: int(count) for day, count, _, _ in rows}


def buyers(session: Session, linked: Linked, period: Period) -> Buyers:
    """The period's buyers and repeat buyers."""
    found, repeat = session.execute(
        select(counted(linked.first_in(period)), counted(linked.again_in(period))).where(
            *linked.between(period.first, period.last)
        )
    ).one()
    return Buyers(int(found), int(repeat))


def buyers_in(session: Session, linked: Linked, periods: Iterable[Period]) -> list[int]:
    """The buyers of each period, in one read of the days from the earliest."""
    chosen = list(periods)
    first, last = min(p.first for p in chosen), max(p.last for p in chosen)
    row = session.execute(
        select(*(counted(linked.first_in(p)) for p in chosen)).where(*linked.between(first, last))
    ).one()
    return [int(n) for n in row]


def buyers_by_month(session: Session, linked: Linked, period: Period) -> dict[int, Buyers]:
    """Per calendar month of the period (its first and last clipped to it, by month number,
    see `member_facts.month_number`): the buyers and repeat buyers. Counted per day and added
    up here: a month per row costs more than the counting."""
    days = linked.days
    first = or_(days.first_in_month, days.previous_day < period.first)
    again = and_(first, ~days.last_in_month, days.next_day <= period.last)
    rows = session.execute(
        select(days.day, counted(first), counted(again))
        .where(*linked.between(period.first, period.last))
        .group_by(days.day)
    )
    found: dict[int, Buyers] = defaultdict(Buyers)
    for day, buyers, repeat in rows:
        found[number_of(day)] += Buyers(int(buyers), int(repeat))
    return dict(found)


def buyers_by_store(
    session: Session, store_ids: frozenset[int] | None, period: Period
) -> dict[int, Buyers]:
    """Per store (of `store_ids`, None: every store): the members who bought there in the
    period, and those who bought there on two days or more of it."""
    linked = Linked(MemberStoreDay)
    scope = [] if store_ids is None else [MemberStoreDay.store_id.in_(sorted(store_ids))]
    rows = session.execute(
        select(
            MemberStoreDay.store_id,
            counted(linked.first_in(period)),
            counted(linked.again_in(period)),
        )
        .where(*linked.between(period.first, period.last), *scope)
        .group_by(MemberStoreDay.store_id)
    )
    return {store_id: Buyers(int(n), int(r)) for store_id, n, r in rows}
