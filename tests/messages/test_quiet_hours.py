"""Quiet hours in business time: a moment inside the window waits until its end, the next
occurrence of the end time; a moment outside it goes now."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from patron.core import clock
from patron.messages.policy import quiet_until

moments = st.integers(
    int(datetime(2020, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2035, 1, 1, tzinfo=UTC).timestamp()),
).map(lambda seconds: datetime.fromtimestamp(seconds, UTC))
clock_times = st.times().map(lambda t: t.replace(second=0, microsecond=0))


def inside(local: time, start: time, end: time) -> bool:
    return start <= local < end if start < end else local >= start or local < end


@settings(max_examples=300, deadline=None)
@given(moment=moments, start=clock_times, end=clock_times)
def test_quiet_until_is_the_next_end_of_the_window(
    moment: datetime, start: time, end: time
) -> None:
    spec = f"{start:%H:%M}-{end:%H:%M}"
    until = quiet_until(spec, moment)
    local = moment.astimezone(clock.business_tz())
    if start == end or not inside(local.time(), start, end):
        assert until is None
        return
    assert until is not None
    assert moment < until <= moment + timedelta(days=1)
    assert until.astimezone(clock.business_tz()).time() == end
    # Nothing between the moment and the end is outside the window.
    assert inside((until - timedelta(minutes=1)).astimezone(clock.business_tz()).time(), start, end)


def test_default_window_examples() -> None:
    shanghai_22 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    shanghai_03 = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    shanghai_10 = datetime(2026, 6, 2, 2, 0, tzinfo=UTC)
    morning = datetime(2026, 6, 2, 1, 0, tzinfo=UTC)  # 09:00 on 2 June, Shanghai
    assert quiet_until("21:00-09:00", shanghai_22) == morning
    assert quiet_until("21:00-09:00", shanghai_03) == morning
    assert quiet_until("21:00-09:00", shanghai_10) is None
    assert quiet_until("21:00-09:00", morning) is None  # 09:00 sharp is past the window
