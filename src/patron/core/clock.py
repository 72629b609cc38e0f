"""The one clock. Tests and jobs set it (`--now`); nothing else calls `datetime.now()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


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
