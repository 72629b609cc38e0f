"""Finding members: by id within the caller's store scope, by mobile or identity across the
chain (merged members lead to the survivor), in lists and in bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Exists, Select, func, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from patron.core import bulk
from patron.core.actor import Actor
from patron.core.crypto import blind_index
from patron.core.pagination import PageResult, paginate
from patron.members.errors import MemberNotActive, MemberNotFound
from patron.members.models import (
    AttributeDefinition,
    Member,
    MemberAttributeValue,
    MemberStatus,
)


def visible(actor: Actor, member: Member) -> bool:
    """Whether the member falls in the caller's store scope (by registering store)."""
    return actor.all_stores or (member.store_id is not None and actor.sees_store(member.store_id))


def get_member(session: Session, actor: Actor, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or not visible(actor, member):
        raise MemberNotFound(f"no member {member_id}")
    return member


def get_active_member(
    session: Session, actor: Actor, member_id: int, *, for_update: bool = False
) -> Member:
    """`for_update` locks the member's row for an edit (FOR NO KEY UPDATE, which points work
    holding the row does not wait for): edits of one member take turns, each seeing the rows
    the one before added, and an edit that waited for a merge sees its outcome."""
    member = get_member(session, actor, member_id)
    if for_update:
        session.refresh(member, with_for_update={"key_share": True})
    if member.status != MemberStatus.active:
        raise MemberNotActive(
            f"member {member_id} is {member.status}", merged_into_id=member.merged_into_id
        )
    return member


def count_members(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Member)) or 0


@dataclass(frozen=True)
class RosterEntry:
    id: int
    store_id: int | None
    channel: str
    registered_at: datetime


def roster(session: Session) -> list[RosterEntry]:
    """Every active member, lightly: for generators and batch work, not for screens."""
    rows = session.execute(
        select(Member.id, Member.store_id, Member.channel, Member.registered_at)
        .where(Member.status == MemberStatus.active.value)
        .order_by(Member.id)
    )
    return [RosterEntry(*row) for row in rows]


def rule_facts(
    session: Session, member_ids: Iterable[int]
) -> dict[int, tuple[str | None, dict[str, Any]]]:
    """Birthday month-day and attribute values of active members, for earning rules; two queries."""
    ids = set(member_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.birthday_md).where(
            Member.id.in_(ids), Member.status == MemberStatus.active.value
        )
    )
    found: dict[int, tuple[str | None, dict[str, Any]]] = {
        member_id: (md, {}) for member_id, md in rows
    }
    values = session.execute(
        select(
            MemberAttributeValue.member_id,
            AttributeDefinition.code,
            MemberAttributeValue.value,
            MemberAttributeValue.secret_value,
        )
        .join(AttributeDefinition, AttributeDefinition.id == MemberAttributeValue.attribute_id)
        .where(MemberAttributeValue.member_id.in_(found))
    )
    for member_id, code, value, secret in values:
        found[member_id][1][code] = json.loads(secret or value or "null")
    return found


def members_by_id(session: Session, member_ids: Iterable[int | None]) -> dict[int, Member]:
    """Several members at once, by id (None ids skipped), whatever their status (for pages that
    list many)."""
    ids = {i for i in member_ids if i is not None}
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(ids)))}


@dataclass(frozen=True)
class Standing:
    """What a batch job needs of a member to act on them: no personal data."""

    id: int
    status: str
    merged_into_id: int | None
    store_id: int | None


def standings(session: Session, member_ids: Iterable[int]) -> dict[int, Standing]:
    """Several members' standing at once, by id (one array parameter on PostgreSQL), for lists
    of thousands (a tag's bulk list): no ORM objects, no decryption."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.status, Member.merged_into_id, Member.store_id).where(
            bulk.any_of(session, Member.id, ids)
        )
    )
    return {row.id: Standing(*row) for row in rows}


def in_scope(
    actor: Actor, member_id: ColumnElement[int] | InstrumentedAttribute[int]
) -> ColumnElement[bool]:
    """A condition for another domain's statement (a tag's members): the member `member_id`
    names is registered in the caller's stores; always true for callers of every store."""
    if actor.store_ids is None:
        return true()
    return (
        select(Member.id)
        .where(Member.id == member_id, Member.store_id.in_(actor.store_ids))
        .exists()
    )


def ids_by_mobile(session: Session, mobiles: list[str]) -> dict[str, int]:
    """Active members' ids for E.164 mobiles (merged numbers lead to the survivor)."""
    by_hash = {blind_index("mobile", m): m for m in mobiles}
    found: dict[str, int] = {}
    for member in session.scalars(select(Member).where(Member.mobile_hash.in_(by_hash))):
        survivor = follow_merges(session, member)
        if survivor is not None and survivor.status == MemberStatus.active:
            found[by_hash[member.mobile_hash or ""]] = survivor.id
    return found


def find_active(session: Session, member_id: int) -> Member | None:
    """A member by id across the whole chain (a member may buy in any store), if active."""
    member = session.get(Member, member_id)
    return member if member is not None and member.status == MemberStatus.active else None


def first_active_mobile(session: Session) -> str | None:
    """The mobile (E.164) of the earliest active member: the demo's member to sign in as."""
    return session.scalar(
        select(Member.mobile)
        .where(Member.status == MemberStatus.active, Member.mobile.is_not(None))
        .order_by(Member.id)
        .limit(1)
    )


def staff_flag(member_id: ColumnElement[int] | int) -> Any:
    """For another domain's statement (or on its own): whether the member `member_id` names is
    staff, NULL unless it is an active member. No personal data read (the till's hot path)."""
    query = select(Member.is_staff).where(
        Member.id == member_id, Member.status == MemberStatus.active.value
    )
    return query.scalar_subquery()


def follow_merges(session: Session, member: Member | None) -> Member | None:
    seen = set()
    while member is not None and member.merged_into_id is not None and member.id not in seen:
        seen.add(member.id)
        member = session.get(Member, member.merged_into_id)
    return member


def find_by_mobile(session: Session, mobile_e164: str) -> Member | None:
    member = session.scalar(
        select(Member).where(Member.mobile_hash == blind_index("mobile", mobile_e164))
    )
    return follow_merges(session, member)


@dataclass
class MemberFilter:
    q: str | None = None
    store_id: int | None = None
    guide_id: int | None = None
    channel: str | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    status: MemberStatus | None = MemberStatus.active


def _name_prefix_condition(q: str) -> Any:
    prefix = q.strip()[:3]
    column = (Member.name_prefix1, Member.name_prefix2, Member.name_prefix3)[len(prefix) - 1]
    return column == blind_index(f"name_prefix{len(prefix)}", prefix)


def list_members(
    session: Session, actor: Actor, filters: MemberFilter, cursor: str | None, limit: int
) -> PageResult[Member]:
    query = select(Member)
    if actor.store_ids is not None:
        query = query.where(Member.store_id.in_(actor.store_ids))
    if filters.status is not None:
        query = query.where(Member.status == filters.status.value)
    if filters.q and filters.q.strip():
        query = query.where(_name_prefix_condition(filters.q))
    for column, value in (
        (Member.store_id, filters.store_id),
        (Member.guide_id, filters.guide_id),
        (Member.channel, filters.channel),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.registered_from is not None:
        query = query.where(Member.registered_at >= filters.registered_from)
    if filters.registered_to is not None:
        query = query.where(Member.registered_at < filters.registered_to)
    page = paginate(session, query, Member.id, cursor, limit)
    if filters.q and len(filters.q.strip()) > 3:
        wanted = filters.q.strip()
        page.items = [m for m in page.items if m.name and m.name.startswith(wanted)]
    return page


def is_active(member_id: ColumnElement[int]) -> Exists:
    """A condition for another domain's statement (order intake checks its member in its
    insert): the member exists and is active. It holds the member's row like `merge.hold`, so
    a merge in flight is waited for and its outcome seen: no order lands on a merged member."""
    return (
        select(Member.id)
        .where(Member.id == member_id, Member.status == MemberStatus.active.value)
        .with_for_update(read=True, key_share=True)
        .exists()
    )


def active_ids() -> Select[int]:
    """Every active member's id, for set-based work of another domain (profiles join it)."""
    return select(Member.id).where(Member.status == MemberStatus.active.value)
