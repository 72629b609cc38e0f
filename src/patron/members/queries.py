"""Members as other domains select them in bulk (journeys' daily triggers)."""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import Select, select

from patron.members.models import Member, MemberStatus


def birthdays_on(day: date) -> Select[int]:
    """Active members whose birthday falls on `day` (29 February on 28 February in other years)."""
    days = [day.strftime("%m-%d")]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        days.append("02-29")
    return select(Member.id).where(
        Member.status == MemberStatus.active.value, Member.birthday_md.in_(days)
    )
