"""Over a clock that advances by random steps (minutes to days, across midnight in business
time), random check-in attempts keep the rules: at most one check-in per member per business
day; each streak is yesterday's plus one within the cycle, else 1; each day's bonus is the
program's for its streak; and the points ledger's check-in grants add up to exactly the points
and bonuses the check-ins record, one entry per check-in that gave anything."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.check_ins import service
from patron.check_ins.errors import AlreadyCheckedIn
from patron.check_ins.models import CheckIn
from patron.core import clock
from patron.core.actor import member_actor
from patron.points import queries as points
from tests.check_ins.helpers import check_in_entries, set_program
from tests.factories import make_member

START = datetime(2026, 1, 30, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
# (minutes to advance, which member tries)
steps = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 90), st.integers(60 * 20, 60 * 28), st.integers(60 * 40, 60 * 80)),
        st.integers(0, 1),
    ),
    min_size=1,
    max_size=25,
)
bonuses = st.dictionaries(st.integers(1, 7).map(str), st.integers(1, 50), max_size=4)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    script=steps,
    per_day=st.integers(0, 20),
    cycle=st.sampled_from([7, 30]),
    bonus=bonuses,
)
def test_check_ins_follow_the_rules_over_an_advancing_clock(
    session: Session, script: list[tuple[int, int]], per_day: int, cycle: int, bonus: dict[str, int]
) -> None:
    with session.begin_nested() as savepoint, clock.frozen(START):
        found = set_program(session, points_per_day=per_day, cycle_days=cycle, streak_bonuses=bonus)
        ids = [make_member(session).id for _ in range(2)]
        now = START
        attempts: Counter[tuple[int, object]] = Counter()
        for minutes, who in script:
            now += timedelta(minutes=minutes)
            with clock.frozen(now):
                member_id = ids[who]
                day = clock.today()
                attempts[(member_id, day)] += 1
                try:
                    row = service.check_in(session, member_actor(member_id), member_id)
                except AlreadyCheckedIn:
                    assert attempts[(member_id, day)] > 1
                    continue
                assert attempts[(member_id, day)] == 1
                assert row.business_day == day == now.astimezone(clock.business_tz()).date()
        for member_id in ids:
            rows = list(
                session.scalars(
                    select(CheckIn)
                    .where(CheckIn.member_id == member_id)
                    .order_by(CheckIn.business_day)
                )
            )
            days = [r.business_day for r in rows]
            assert len(days) == len(set(days))
            assert len(rows) == sum(1 for (m, _), n in attempts.items() if m == member_id)
            previous = None
            for r in rows:
                follows = previous is not None and previous.business_day == r.business_day - (
                    timedelta(days=1)
                )
                expected = previous.streak + 1 if follows and previous.streak < cycle else 1
                assert r.streak == expected
                assert 1 <= r.streak <= cycle
                assert r.points == per_day
                assert r.bonus == found.bonus_on(r.streak)
                previous = r
            entries = check_in_entries(session, member_id)
            assert sum(e.points for e in entries) == sum(r.points + r.bonus for r in rows)
            assert len(entries) == sum(1 for r in rows if r.points + r.bonus > 0)
            assert points.balance(session, member_id).available == sum(e.points for e in entries)
        savepoint.rollback()
