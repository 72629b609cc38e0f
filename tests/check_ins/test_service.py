from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.check_ins import service
from patron.check_ins.errors import AlreadyCheckedIn, CheckInClosed
from patron.check_ins.models import CheckIn
from patron.core import clock
from patron.core.actor import SYSTEM, Actor, member_actor
from patron.core.errors import Forbidden, InvalidInput
from patron.members import merge, privacy
from patron.points import queries as points
from patron.tiers import growth
from patron.tiers.models import GrowthEntry, GrowthKind
from tests.check_ins.helpers import at_business, check_in_entries, set_program
from tests.factories import make_member
from tests.tiers.helpers import make_ladder
from tests.tiers.helpers import set_program as set_tier_program

DAY = date(2026, 3, 10)


def check_in(session: Session, member_id: int) -> CheckIn:
    return service.check_in(session, member_actor(member_id), member_id)


def test_the_day_boundary_is_midnight_in_business_time_not_utc(session: Session) -> None:
    member = make_member(session)
    clock.set_now(at_business(DAY, 23, 59, 59))  # 15:59:59 UTC
    first = check_in(session, member.id)
    assert first.business_day == DAY
    with pytest.raises(AlreadyCheckedIn):
        check_in(session, member.id)
    # 00:00 business time is still 16:00 UTC of the same UTC day: a new business day.
    clock.set_now(at_business(DAY + timedelta(days=1), 0, 0))
    assert clock.now().date() == DAY
    second = check_in(session, member.id)
    assert second.business_day == DAY + timedelta(days=1)
    assert second.streak == 2
    # 23:59 business time of that day (15:59 UTC): still the same day, refused.
    clock.set_now(at_business(DAY + timedelta(days=1), 23, 59))
    with pytest.raises(AlreadyCheckedIn):
        check_in(session, member.id)


def test_points_and_bonus_are_granted_on_the_ledger(session: Session) -> None:
    set_program(session, points_per_day=5, cycle_days=7, streak_bonuses={"3": 10, "7": 50})
    member = make_member(session)
    given = []
    for n in range(9):
        clock.set_now(at_business(DAY + timedelta(days=n), 8))
        row = check_in(session, member.id)
        given.append((row.streak, row.points, row.bonus))
    assert given == [
        (1, 5, 0),
        (2, 5, 0),
        (3, 5, 10),
        (4, 5, 0),
        (5, 5, 0),
        (6, 5, 0),
        (7, 5, 50),
        (1, 5, 0),  # the cycle starts over
        (2, 5, 0),
    ]
    entries = check_in_entries(session, member.id)
    assert [e.points for e in entries] == [p + b for _, p, b in given]
    rows = session.scalars(select(CheckIn).where(CheckIn.member_id == member.id)).all()
    assert {e.reason for e in entries} == {f"check_in [check_in:{r.id}]" for r in rows}
    assert points.balance(session, member.id).available == 5 * 9 + 60


def test_a_missed_day_starts_the_streak_over(session: Session) -> None:
    member = make_member(session)
    clock.set_now(at_business(DAY))
    check_in(session, member.id)
    clock.set_now(at_business(DAY + timedelta(days=1)))
    assert check_in(session, member.id).streak == 2
    clock.set_now(at_business(DAY + timedelta(days=3)))
    assert check_in(session, member.id).streak == 1


def test_the_calendar_shows_the_month_the_streak_and_what_comes_next(session: Session) -> None:
    set_program(session, points_per_day=2, cycle_days=7, streak_bonuses={"2": 3})
    member = make_member(session)
    actor = member_actor(member.id)
    clock.set_now(at_business(DAY))
    before = service.calendar(session, actor, member.id)
    assert before.checked_in is None
    assert before.streak == 0
    assert (before.next.business_day, before.next.streak, before.next.total) == (DAY, 1, 2)
    check_in(session, member.id)
    after = service.calendar(session, actor, member.id)
    assert after.checked_in is not None
    assert after.streak == 1
    assert (after.next.business_day, after.next.streak, after.next.total) == (
        DAY + timedelta(days=1),
        2,
        5,
    )
    assert [c.business_day for c in after.days] == [DAY]
    assert service.calendar(session, actor, member.id, date(2026, 2, 1)).days == []
    # The next day, not yet checked in: the streak still counts yesterday.
    clock.set_now(at_business(DAY + timedelta(days=1)))
    later = service.calendar(session, actor, member.id)
    assert later.checked_in is None
    assert later.streak == 1
    assert later.next.streak == 2


def test_only_the_member_checks_themselves_in(session: Session) -> None:
    member = make_member(session)
    other = make_member(session)
    clock.set_now(at_business(DAY))
    with pytest.raises(Forbidden):
        service.check_in(session, SYSTEM, member.id)
    with pytest.raises(Forbidden):
        service.check_in(session, member_actor(other.id), member.id)
    staff = Actor(kind="staff", id=member.id, name="s", role=SYSTEM.role, store_ids=None)
    with pytest.raises(Forbidden):
        service.check_in(session, staff, member.id)


def test_a_closed_program_refuses(session: Session) -> None:
    set_program(session, enabled=False)
    member = make_member(session)
    clock.set_now(at_business(DAY))
    with pytest.raises(CheckInClosed):
        check_in(session, member.id)


def test_zero_points_grants_nothing_but_counts_the_day(session: Session) -> None:
    set_program(session, points_per_day=0, streak_bonuses={"2": 4})
    member = make_member(session)
    clock.set_now(at_business(DAY))
    assert check_in(session, member.id).points == 0
    clock.set_now(at_business(DAY + timedelta(days=1)))
    assert check_in(session, member.id).bonus == 4
    assert [e.points for e in check_in_entries(session, member.id)] == [4]


def test_bonus_days_stay_within_the_cycle(session: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        set_program(session, cycle_days=7, streak_bonuses={"8": 10})
    assert refused.value.extra["errors"][0]["code"] == "bonus_day_outside_cycle"
    saved = set_program(session, cycle_days=30, streak_bonuses={"30": 100, "8": 10})
    assert saved.streak_bonuses == {"8": 10, "30": 100}


def test_check_in_growth_is_given_each_day_when_the_program_gives_it(session: Session) -> None:
    make_ladder(session)
    set_tier_program(session, action_growth={"check_in": 2})
    member = make_member(session)
    for n in range(3):
        clock.set_now(at_business(DAY + timedelta(days=n)))
        check_in(session, member.id)
    given = session.scalars(
        select(GrowthEntry.growth).where(
            GrowthEntry.member_id == member.id,
            GrowthEntry.kind == GrowthKind.action.value,
            GrowthEntry.action == "check_in",
        )
    ).all()
    assert given == [2, 2, 2]
    assert growth.lifetime_sum(session, member.id) >= 6


def test_a_merge_gives_the_survivor_the_union_of_days(session: Session) -> None:
    source = make_member(session)
    target = make_member(session)
    for n, who in ((0, source), (1, source), (1, target), (2, target)):
        clock.set_now(at_business(DAY + timedelta(days=n)))
        check_in(session, who.id)
    merge.merge_members(session, SYSTEM, source.id, target.id)
    days = session.scalars(select(CheckIn.business_day).where(CheckIn.member_id == target.id)).all()
    assert sorted(days) == [DAY + timedelta(days=n) for n in range(3)]
    # The source's row of the shared day stays (nothing deleted).
    assert session.scalar(select(CheckIn).where(CheckIn.member_id == source.id)) is not None


def test_erasure_keeps_the_rows_and_the_export_lists_them(session: Session) -> None:
    member = make_member(session)
    clock.set_now(at_business(DAY))
    check_in(session, member.id)
    exported = privacy.export_member(session, SYSTEM, member.id)
    assert exported["check_ins"][0]["business_day"] == DAY.isoformat()
    privacy.erase_member(session, SYSTEM, member.id, "asked")
    assert session.scalar(select(CheckIn).where(CheckIn.member_id == member.id)) is not None
