"""Members as other domains select them in bulk (journeys' daily triggers and actions, a
segment's page of members, the reports' registrations)."""

from __future__ import annotations

import calendar
from collections.abc import Collection
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.core.daily import BusinessDays
from patron.core.pagination import PageResult, paginate
from patron.members.models import Member, MemberStatus


def birthdays_on(day: date) -> Select[int]:
    """Active members whose birthday falls on `day` (29 February on 28 February in other years)."""
    days = [day.strftime("%m-%d")]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        days.append("02-29")
    return select(Member.id).where(
        Member.status == MemberStatus.active.value, Member.birthday_md.in_(days)
    )


def without_marketing(session: Session, member_ids: Collection[int]) -> set[int]:
    """Which of the members asked for no marketing (`no_marketing`)."""
    if not member_ids:
        return set()
    query = select(Member.id).where(
        bulk.any_of(session, Member.id, sorted(member_ids)), Member.no_marketing.is_(True)
    )
    return set(session.scalars(query))


def page_among(
    session: Session, member_ids: Select[int], cursor: str | None, limit: int
) -> PageResult[Member]:
    """A page of the members `member_ids` selects (another domain's audience: a segment's),
    newest first; one query."""
    query = select(Member).where(Member.id.in_(member_ids))
    return paginate(session, query, Member.id, cursor, limit)


def registrations_by_day(
    days: BusinessDays, store_ids: Collection[int] | None
) -> Select[date, int]:
    """(business day, members registered) on `days`, in the stores `store_ids` (None: every
    store, and no store): every record registered, merged or erased since included (read from
    the indexes alone)."""
    day = days.of(Member.registered_at).label("day")
    query = select(day, func.count().label("members")).where(days.holds(Member.registered_at))
    query = query.group_by(day)
    if store_ids is not None:
        query = query.where(Member.store_id.in_(sorted(store_ids)))
    return query
