"""Quiet hours in business time: when a marketing message may go out."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from patron.core import clock


def parse_quiet_hours(spec: str) -> tuple[time, time]:
    """ "21:00-09:00" → (21:00, 09:00); the settings validate the form."""
    start, _, end = spec.partition("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def quiet_until(spec: str, moment: datetime) -> datetime | None:
    """The end of the quiet hours `moment` falls in (UTC), or None when it falls outside them.
    A window may wrap midnight (21:00-09:00); equal ends mean no quiet hours."""
    start, end = parse_quiet_hours(spec)
    if start == end:
        return None
    tz = clock.business_tz()
    local = moment.astimezone(tz)
    now = local.time()
    day = local.date()
    if start < end:
        if not start <= now < end:
            return None
    elif now >= start:
        day = day + timedelta(days=1)
    elif now >= end:
        return None
    return datetime.combine(day, end, tzinfo=tz).astimezone(moment.tzinfo)
