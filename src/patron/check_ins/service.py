"""Checking in (签到): once per business day (the chain's time zone, never UTC), the day's points
plus the streak's bonus granted through the points ledger, growth for the `check_in` action
when the tier program gives it; and what a member's calendar shows.

A streak counts consecutive business days: a check-in the day after one at streak s is at
s + 1, or at 1 after the cycle's last day (7 or 30); a missed day starts it over at 1. The
unique (member, business day) row decides a race: of two concurrent check-ins one inserts it,
the other inserts nothing and answers already_checked_in, so the points are granted once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session

from patron.check_ins.errors import AlreadyCheckedIn, CheckInClosed
from patron.check_ins.models import CheckIn
from patron.check_ins.program import Program, program
from patron.core import clock
from patron.core.actor import Actor
from patron.core.db import insert_or_skip
from patron.core.errors import Forbidden
from patron.members import merge as member_merge
from patron.members import registry
from patron.points.grants import grant_points
from patron.tiers.hooks import award_action

CHECK_INS = cast(Table, CheckIn.__table__)
REASON = "check_in"
ACTION = "check_in"


def source_ref(check_in_id: int) -> str:
    return f"check_in:{check_in_id}"


@dataclass(frozen=True)
class Reward:
    """What a check-in on `business_day` gives (or gave)."""

    business_day: date
    streak: int
    points: int
    bonus: int

    @property
    def total(self) -> int:
        return self.points + self.bonus


def reward(found: Program, day: date, previous: CheckIn | None) -> Reward:
    """The check-in on `day` after the member's latest one before it (`previous`)."""
    last = previous.streak if previous and previous.business_day == day - timedelta(days=1) else 0
    streak = found.next_streak(last)
    return Reward(day, streak, found.points_per_day, found.bonus_on(streak))


def _own(actor: Actor, member_id: int) -> None:
    """Members only, each for themselves: staff never check a member in."""
    if actor.kind != "member" or actor.id != member_id:
        raise Forbidden("only the member checks in, for themselves")


def latest_before(session: Session, member_id: int, day: date) -> CheckIn | None:
    return session.scalar(
        select(CheckIn)
        .where(CheckIn.member_id == member_id, CheckIn.business_day < day)
        .order_by(CheckIn.business_day.desc())
        .limit(1)
    )


def on_day(session: Session, member_id: int, day: date) -> CheckIn | None:
    return session.scalar(
        select(CheckIn).where(CheckIn.member_id == member_id, CheckIn.business_day == day)
    )


def check_in(session: Session, actor: Actor, member_id: int) -> CheckIn:
    """Today's check-in (business day): 409 already_checked_in the second time, check_in_closed
    while the program is off, member_not_active for a merged or erased member."""
    _own(actor, member_id)
    found = program(session)
    if not found.enabled:
        raise CheckInClosed("daily check-in is turned off")
    member_merge.hold(session, [member_id], active=True)
    now = clock.now()
    day = clock.today()
    if on_day(session, member_id, day) is not None:
        raise AlreadyCheckedIn(f"already checked in on {day.isoformat()}")
    given = reward(found, day, latest_before(session, member_id, day))
    inserted = session.execute(
        insert_or_skip(session, CHECK_INS)
        .values(
            member_id=member_id,
            business_day=day,
            streak=given.streak,
            points=given.points,
            bonus=given.bonus,
            checked_in_at=now,
        )
        .on_conflict_do_nothing(index_elements=["member_id", "business_day"])
        .returning(CHECK_INS.c.id)
    ).scalar()
    if inserted is None:  # a concurrent check-in of the same day won
        raise AlreadyCheckedIn(f"already checked in on {day.isoformat()}")
    if given.total > 0:
        grant_points(
            session,
            actor,
            member_id,
            given.total,
            reason=REASON,
            store_id=None,
            source_ref=source_ref(inserted),
        )
    member = registry.find_active(session, member_id)  # held active above
    assert member is not None
    award_action(session, member, ACTION, actor.name, once=False)
    row = session.get(CheckIn, inserted)
    assert row is not None
    return row


@dataclass(frozen=True)
class Calendar:
    month: date  # its first day
    days: list[CheckIn]  # the month's check-ins, by day
    today: date
    checked_in: CheckIn | None  # today's
    streak: int  # the current streak: today's, or yesterday's while today is still open
    next: Reward  # what the next check-in gives: today's if still open, else tomorrow's
    program: Program


def calendar(session: Session, actor: Actor, member_id: int, month: date | None = None) -> Calendar:
    """The member's month (business time; this month by default), today's state and what the
    next check-in would give."""
    _own(actor, member_id)
    today = clock.today()
    first = (month or today).replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    days = list(
        session.scalars(
            select(CheckIn)
            .where(
                CheckIn.member_id == member_id,
                CheckIn.business_day >= first,
                CheckIn.business_day < after,
            )
            .order_by(CheckIn.business_day)
        )
    )
    found = program(session)
    todays = on_day(session, member_id, today)
    if todays is not None:
        streak = todays.streak
        upcoming = reward(found, today + timedelta(days=1), todays)
    else:
        previous = latest_before(session, member_id, today)
        alive = previous is not None and previous.business_day == today - timedelta(days=1)
        streak = previous.streak if alive and previous is not None else 0
        upcoming = reward(found, today, previous)
    return Calendar(first, days, today, todays, streak, upcoming, found)


def tomorrow_of(session: Session, row: CheckIn) -> Reward:
    """What a check-in the day after `row` would give."""
    return reward(program(session), row.business_day + timedelta(days=1), row)


def member_check_ins(session: Session, member_id: int) -> Select[CheckIn]:
    """A member's check-ins (for staff, once the member's visibility is checked)."""
    return select(CheckIn).where(CheckIn.member_id == member_id)
