"""Merging two records of one person: each domain moves its own rows to the survivor."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, events
from patron.core.actor import Actor
from patron.core.db import insert_or_skip
from patron.core.errors import InvalidInput
from patron.core.hooks import Hook
from patron.core.reasons import Reason
from patron.members import permissions
from patron.members.consents import consents_of
from patron.members.errors import MemberNotActive, MemberNotFound
from patron.members.events import MEMBER_MERGED, MemberMerged
from patron.members.models import (
    GuideAssignment,
    Member,
    MemberAttributeValue,
    MemberConsent,
    MemberConsentEvent,
    MemberIdentity,
    MemberStatus,
)
from patron.members.registry import visible

MergeHandler = Callable[[Session, Member, Member], None]
# How each domain moves its rows from a merged member (source) to the survivor (target).
on_merge: Hook[MergeHandler] = Hook("member merge")


@dataclass(frozen=True)
class Held:
    status: str
    merged_into_id: int | None


def hold(
    session: Session, member_ids: Iterable[int] | Select[int], *, active: bool = False
) -> dict[int, Held]:
    """Key-share lock the members' rows, in id order: the first lock any work on a member's
    points or orders takes (the global order is members, then points accounts, each in id
    order, then the rows they own). A merge locks both members FOR UPDATE before anything else,
    so such work waits for a merge in flight, or the merge for it, and sees a finished merge's
    outcome here. The lock is the one a foreign key takes anyway: it does not block edits of
    the member. With `active`, a member merged or erased by then is refused. `member_ids` may
    be a query (set-based work on many members)."""
    wanted = member_ids if isinstance(member_ids, Select) else sorted(set(member_ids))
    rows = session.execute(
        select(Member.id, Member.status, Member.merged_into_id)
        .where(Member.id.in_(wanted))
        .order_by(Member.id)
        .with_for_update(read=True, key_share=True)
    )
    held = {row.id: Held(row.status, row.merged_into_id) for row in rows}
    if active:
        for member_id, member in held.items():
            if member.status != MemberStatus.active:
                raise MemberNotActive(
                    f"member {member_id} is {member.status}", merged_into_id=member.merged_into_id
                )
    return held


def lock_accounts(
    session: Session,
    model: Any,
    member_ids: Iterable[int],
    blank: dict[str, Any],
    *,
    active: bool = False,
) -> dict[int, Any]:
    """Another domain's per-member accounts (`model`, keyed by `member_id`), created from
    `blank` when missing, locked in member-id order after the members' rows (`hold`: the global
    lock order, so no deadlock with a merge). With `active`, a member merged or erased meanwhile
    is refused (MemberNotActive)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    hold(session, ids, active=active)
    accounts = _accounts_for_update(session, model, ids)
    missing = [i for i in ids if i not in accounts]
    if missing:
        now = clock.now()
        rows = [{"member_id": i, **blank, "updated_at": now} for i in missing]
        table = model.__table__
        session.execute(
            insert_or_skip(session, table).on_conflict_do_nothing(index_elements=["member_id"]),
            rows,
        )
        accounts |= _accounts_for_update(session, model, missing)
    return accounts


def _accounts_for_update(session: Session, model: Any, ids: list[int]) -> dict[int, Any]:
    query = (
        select(model)
        .where(model.member_id.in_(ids))
        .order_by(model.member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {a.member_id: a for a in session.scalars(query)}


def hold_survivor(session: Session, member_id: int) -> int:
    """`hold` the member that owns a merged member's rows now (following merges at any depth),
    before locking one of those rows: a merge may be moving it. Returns its id."""
    seen = set()
    while member_id not in seen:
        seen.add(member_id)
        member = hold(session, [member_id]).get(member_id)
        if member is None or member.merged_into_id is None:
            break
        member_id = member.merged_into_id
    return member_id


def survivors(session: Session) -> dict[int, int]:
    """Every merged member's id -> the member that owns their rows now (merges at any depth)."""
    merged: dict[int, int] = {
        member_id: into
        for member_id, into in session.execute(
            select(Member.id, Member.merged_into_id).where(Member.merged_into_id.is_not(None))
        )
        if into is not None
    }
    found: dict[int, int] = {}
    for member_id in merged:
        owner, seen = member_id, set()
        while owner in merged and owner not in seen:
            seen.add(owner)
            owner = merged[owner]
        found[member_id] = owner
    return found


def _lock_pair(session: Session, first_id: int, second_id: int) -> dict[int, Member]:
    # FOR UPDATE, in primary-key order: two merges of the same pair cannot deadlock, and work
    # that `hold`s either member (key share) waits for the merge, or the merge for it.
    rows = session.scalars(
        select(Member)
        .where(Member.id.in_((first_id, second_id)))
        .order_by(Member.id)
        .with_for_update()
    )
    return {member.id: member for member in rows}


def merge_members(session: Session, actor: Actor, source_id: int, target_id: int) -> Member:
    permissions.MERGE.check(actor)
    if source_id == target_id:
        raise InvalidInput(
            "source_id", "a member cannot be merged into itself", code=Reason.merge_into_self
        )
    locked = _lock_pair(session, source_id, target_id)
    for field, member_id in (("source_id", source_id), ("target_id", target_id)):
        member = locked.get(member_id)
        if member is None or not visible(actor, member):
            raise MemberNotFound(f"no member {member_id}", field=field)
        if member.status != MemberStatus.active:
            raise MemberNotActive(f"member {member_id} is {member.status}", field=field)
    source, target = locked[source_id], locked[target_id]
    for handler in on_merge:
        handler(session, source, target)
    source.status = MemberStatus.merged.value
    source.merged_into_id = target.id
    source.code_secret = None
    session.flush()
    audit.record(
        session,
        actor,
        "member.merge",
        "member",
        target.id,
        store_id=target.store_id,
        before={"source_id": source.id},
        after={"target_id": target.id, "moved": sorted(on_merge.names())},
    )
    merged = MemberMerged(source_id=source.id, target_id=target.id, occurred_at=clock.now())
    events.publish(session, MEMBER_MERGED, target.id, merged)
    return target


@on_merge.register("members.identities")
def _merge_identities(session: Session, source: Member, target: Member) -> None:
    session.execute(
        update(MemberIdentity)
        .where(MemberIdentity.member_id == source.id)
        .values(member_id=target.id)
    )


@on_merge.register("members.consents")
def _merge_consents(session: Session, source: Member, target: Member) -> None:
    """History moves whole; per channel the newer decision stands."""
    session.execute(
        update(MemberConsentEvent)
        .where(MemberConsentEvent.member_id == source.id)
        .values(member_id=target.id)
    )
    kept = {c.channel: c for c in consents_of(session, target.id)}
    for consent in consents_of(session, source.id):
        mine = kept.get(consent.channel)
        if mine is None or consent.recorded_at > mine.recorded_at:
            _copy_consent(session, consent, target.id, mine)
        session.delete(consent)
    session.flush()


def _copy_consent(
    session: Session, consent: MemberConsent, target_id: int, existing: MemberConsent | None
) -> None:
    row = existing or MemberConsent(member_id=target_id, channel=consent.channel)
    row.granted, row.source, row.recorded_at = consent.granted, consent.source, consent.recorded_at
    session.add(row)


@on_merge.register("members.attributes")
def _merge_attributes(session: Session, source: Member, target: Member) -> None:
    """The target's values stand; the source fills what the target lacks."""
    held = set(
        session.scalars(
            select(MemberAttributeValue.attribute_id).where(
                MemberAttributeValue.member_id == target.id
            )
        )
    )
    for row in session.scalars(
        select(MemberAttributeValue).where(MemberAttributeValue.member_id == source.id)
    ).all():
        if row.attribute_id not in held:
            session.add(
                MemberAttributeValue(
                    member_id=target.id,
                    attribute_id=row.attribute_id,
                    value=row.value,
                    secret_value=row.secret_value,
                )
            )
        session.delete(row)
    session.flush()


@on_merge.register("members.guides")
def _merge_guides(session: Session, source: Member, target: Member) -> None:
    session.execute(
        update(GuideAssignment)
        .where(GuideAssignment.member_id == source.id)
        .values(member_id=target.id)
    )
    if target.guide_id is None and source.guide_id is not None:
        target.guide_id = source.guide_id
