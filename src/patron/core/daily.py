"""Grouping rows by business day in SQL, for set-based daily figures (the reports' facts).

PostgreSQL converts each time with the zone's rules (`AT TIME ZONE`); SQLite has no zone data,
so times are shifted by the zone's UTC offset now (exact for zones without daylight saving,
such as Asia/Shanghai)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, cast, false, func, or_, type_coerce
from sqlalchemy.orm import Session

from patron.core import clock


@dataclass(frozen=True)
class BusinessDays:
    """Some business days, as SQL: the day of a time, and whether a time falls on one of them."""

    dialect: str
    zone: str
    offset_minutes: int
    # Runs of consecutive days, as [start, end) in UTC.
    ranges: tuple[tuple[datetime, datetime], ...]

    def of(self, column: Any) -> ColumnElement[date]:
        if self.dialect == "postgresql":
            return cast(func.timezone(self.zone, column), Date)
        return type_coerce(func.date(column, f"{self.offset_minutes:+d} minutes"), Date)

    def holds(self, column: Any) -> ColumnElement[bool]:
        if not self.ranges:
            return false()
        return or_(*(and_(column >= start, column < end) for start, end in self.ranges))


def business_days(session: Session, days: Iterable[date]) -> BusinessDays:
    tz = clock.business_tz()
    offset = clock.now().astimezone(tz).utcoffset() or timedelta(0)
    return BusinessDays(
        session.get_bind().dialect.name,
        str(tz),
        int(offset.total_seconds() // 60),
        tuple(_runs(sorted(set(days)))),
    )


def _runs(days: list[date]) -> Iterable[tuple[datetime, datetime]]:
    """[start, end) in UTC of each run of consecutive days (`days` sorted)."""
    tz = clock.business_tz()
    runs: list[list[date]] = []
    for day in days:
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    for run in runs:
        yield (
            datetime.combine(run[0], time(), tz),
            datetime.combine(run[-1] + timedelta(days=1), time(), tz),
        )
