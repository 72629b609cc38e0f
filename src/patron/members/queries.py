"""Members as other domains select them in bulk (journeys' daily triggers and actions, a
segment's page of members, the reports' registrations)."""

from __future__ import annotations

import calendar
from collections.abc import Collection
from datetime import date
from typing import Any

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


def registered_on(
    days: BusinessDays, store_ids: Collection[int] | None
) -> Select[int, date, str, int | None, int | None]:
    """The members registered on `days` (business time), but those since merged into another
    (a duplicate's registration is the survivor's): id, day, channel, store_id and
    guide_id (the opening guide); with `store_ids`, of members whose home store is one of
    them (None: every member, those of no store too). By `registered_at`'s index."""
    query = select(
        Member.id,
        days.of(Member.registered_at).label("day"),
        Member.channel,
        Member.store_id,
        Member.opening_guide_id.label("guide_id"),
    ).where(days.holds(Member.registered_at), Member.status != MemberStatus.merged.value)
    if store_ids is not None:
        query = query.where(Member.store_id.in_(sorted(store_ids)))
    return query


def active_ids_in(store_ids: Collection[int] | None) -> Select[int]:
    """Active members' ids; with `store_ids`, of those whose home store is one of them."""
    query = select(Member.id).where(Member.status == MemberStatus.active.value)
    if store_ids is not None:
        query = query.where(Member.store_id.in_(sorted(store_ids)))
    return query


def opened_by_store(
    session: Session, days: BusinessDays, store_ids: frozenset[int] | None
) -> dict[int, int]:
    """Members registered on `days` per home store (0: none), of `store_ids` (None: every
    store and none)."""
    opened = registered_on(days, store_ids).subquery("opened")
    return _counted(session, func.coalesce(opened.c.store_id, 0))


def opened_by_guide(
    session: Session, days: BusinessDays, store_ids: frozenset[int] | None
) -> dict[int, int]:
    """Members registered on `days` per opening guide, of the home stores `store_ids`."""
    opened = registered_on(days, store_ids).subquery("opened")
    return _counted(session, opened.c.guide_id, opened.c.guide_id.is_not(None))


def opened_by_day(
    session: Session, days: BusinessDays, store_ids: frozenset[int] | None
) -> dict[date, int]:
    """Members registered per business day of `days`, of the home stores `store_ids`."""
    opened = registered_on(days, store_ids).subquery("opened")
    return _counted(session, opened.c.day)


def _counted(session: Session, by: Any, *where: Any) -> dict[Any, int]:
    query = select(by, func.count()).where(*where).group_by(by)
    return {key: int(count) for key, count in session.execute(query)}


def opening_guides(store_ids: frozenset[int] | None) -> Select[int, int | None]:
    """(member_id, guide_id): the members a guide opened, of the home stores `store_ids`
    (None: all), for another domain's grouped statement (the guides' leaderboard)."""
    query = select(Member.id.label("member_id"), Member.opening_guide_id.label("guide_id")).where(
        Member.opening_guide_id.is_not(None)
    )
    if store_ids is not None:
        query = query.where(Member.store_id.in_(store_ids))
    return query
