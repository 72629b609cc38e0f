"""The one clock. Tests and jobs set it (`--now`); nothing else calls `datetime.now()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

_frozen: datetime | None = None
_business_tz = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def wall() -> datetime:
    """The real time, never pinned: for what another party checks against its own clock (the
    timestamps of signed requests to webhook receivers and SMS providers)."""
    return datetime.now(UTC)


def set_now(moment: datetime | None) -> None:
    """Pin the clock to `moment` (aware), or release it with None."""
    global _frozen
    if moment is not None and moment.tzinfo is None:
        raise ValueError("the clock takes timezone-aware datetimes only")
    _frozen = moment.astimezone(UTC) if moment is not None else None


@contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    previous = _frozen
    set_now(moment)
    try:
        yield
    finally:
        set_now(previous)


def set_business_timezone(name: str) -> None:
    global _business_tz
    _business_tz = ZoneInfo(name)


def business_tz() -> ZoneInfo:
    """The chain's time zone: calendar rules (birthdays, report days) follow it."""
    return _business_tz


def today() -> date:
    """Today's date in the business time zone."""
    return now().astimezone(_business_tz).date()
