"""What the member reports share: the member day facts a query covers (its days, its stores'
sales, its channel), calendar months and day differences in SQL on both databases, the
names of stores for tables, and shares."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from patron.reports.models import MemberDayFacts
from patron.reports.query import Period, ReportQuery
from patron.stores import service as stores


def covered(query: ReportQuery, period: Period | None = None) -> list[ColumnElement[bool]]:
    """The facts of the period's days (by default the query's), of sales in the query's stores
    and of its channel: conditions led by the day, the facts' key."""
    days = period or query.period
    return [
        MemberDayFacts.day >= days.first,
        MemberDayFacts.day <= days.last,
        *in_scope(query, MemberDayFacts),
    ]


def in_scope(query: ReportQuery, facts: Any) -> list[ColumnElement[bool]]:
    """The facts (`MemberDayFacts` or an alias of it) of the query's stores and channel."""
    where = []
    if query.store_ids is not None:
        where.append(facts.store_id.in_(sorted(query.store_ids)))
    if query.channel is not None:
        where.append(facts.channel == query.channel)
    return where


def month_number(session: Session, day: Any) -> ColumnElement[int]:
    """A date's month as one number (year × 12 + month − 1), for grouping and differences."""
    if session.get_bind().dialect.name == "postgresql":
        # date_part's double precision: EXTRACT's numeric costs twice as much per row.
        return cast(func.date_part("year", day) * 12 + func.date_part("month", day) - 1, Integer)
    year = cast(func.strftime("%Y", day), Integer)
    return year * 12 + cast(func.strftime("%m", day), Integer) - 1


def days_apart(session: Session, earlier: Any, later: Any) -> ColumnElement[int]:
    """Whole days from one date to another (negative when `later` is earlier)."""
    if session.get_bind().dialect.name == "postgresql":
        return later - earlier
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def number_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def label_of(number: int) -> str:
    """A month number as "2026-03"."""
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def months_of(period: Period) -> range:
    """The month numbers the period touches."""
    return range(number_of(period.first), number_of(period.last) + 1)


def days_of(period: Period) -> list[date]:
    return [period.first + timedelta(days=n) for n in range(period.days)]


def share(part: float, whole: float) -> float:
    """part ÷ whole rounded to 4 places; 0 when there is no whole."""
    return round(part / whole, 4) if whole else 0.0


def store_names(session: Session, store_ids: Iterable[int | None]) -> dict[int, tuple[str, str]]:
    """Code and name by store id, for a table's rows."""
    return stores.names_by_id(session, (i for i in store_ids if i is not None))
