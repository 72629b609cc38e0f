"""Demo check-ins (签到): the program on (5 points a day, a 7-day cycle with 10 extra points on
day 3 and 30 on day 7), and a few dozen members who checked in over the last three weeks with
habits of their own (some nearly daily, some now and then), each check-in through the service
at its own moment in business time, so the points ledger, the streaks and the action growth
are the service's (about 20 ms a check-in on SQLite: a few hundred keep the load short).
Today is left open: a demo member can still check in."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.check_ins import program, service
from patron.check_ins.errors import AlreadyCheckedIn
from patron.core import clock
from patron.core.actor import SYSTEM, member_actor
from patron.members.models import Member, MemberStatus

PROGRAM = {
    "enabled": True,
    "points_per_day": 5,
    "cycle_days": 7,
    "streak_bonuses": {"3": 10, "7": 30},
}
MEMBERS = 30
DAYS = 21
POOL = 3000  # drawn from the first active members


@dataclass(frozen=True)
class CheckInReport:
    members: int
    check_ins: int
    points: int

    def __str__(self) -> str:
        return f"{self.check_ins:,} check-ins by {self.members:,} members, {self.points:,} points"


def load(
    session: Session, seed: int = 2026, members: int = MEMBERS, days: int = DAYS
) -> CheckInReport:
    program.save_program(session, SYSTEM, PROGRAM)
    rng = random.Random(seed + 19)
    pool = list(
        session.scalars(
            select(Member.id)
            .where(Member.status == MemberStatus.active)
            .order_by(Member.id)
            .limit(POOL)
        )
    )
    chosen = sorted(rng.sample(pool, min(members, len(pool))))
    habits = {member_id: rng.choice((0.95, 0.8, 0.6, 0.35)) for member_id in chosen}
    today = clock.today()
    tz = clock.business_tz()
    count = points = 0
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        for member_id in chosen:
            if rng.random() >= habits[member_id]:
                continue
            moment = datetime.combine(day, time(7 + rng.randrange(15), rng.randrange(60)), tz)
            with clock.frozen(moment):
                try:
                    row = service.check_in(session, member_actor(member_id), member_id)
                except AlreadyCheckedIn:  # loaded twice
                    continue
            count += 1
            points += row.points + row.bonus
    return CheckInReport(len(chosen), count, points)
