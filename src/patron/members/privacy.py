"""PIPL duties: who may see PII, the audited reveal, erasure and export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, events
from patron.core.actor import Actor, Role
from patron.core.events import OutboxEvent
from patron.core.hooks import Hook
from patron.members import permissions, visibility
from patron.members.attributes import attributes_of
from patron.members.consents import consent_history, record_consent
from patron.members.events import MEMBER_ERASED, MEMBER_REGISTERED, MEMBER_UPDATED, MemberErased
from patron.members.guides import guide_history
from patron.members.identities import identities_of
from patron.members.models import (
    ConsentChannel,
    Member,
    MemberAttributeValue,
    MemberConsent,
    MemberIdentity,
    MemberStatus,
)
from patron.members.registration import set_name
from patron.members.registry import get_member

EraseHandler = Callable[[Session, Member], None]
ExportSection = Callable[[Session, Member], Any]
# How each domain anonymizes its personal data of an erased member.
on_erase: Hook[EraseHandler] = Hook("member erasure")
# What each domain holds about a member, for the PIPL export.
export_sections: Hook[ExportSection] = Hook("member export")


def may_see_pii(actor: Actor, member: Member) -> bool:
    """HQ admins, and the manager of the store where the member registered, see PII in full."""
    return may_see_pii_at(actor, member.store_id)


def may_see_pii_at(actor: Actor, store_id: int | None) -> bool:
    """`may_see_pii` for a member registered at `store_id` (lists read columns, not members)."""
    if not sees_pii_in_scope(actor):
        return False
    return actor.role is Role.hq_admin or (store_id is not None and actor.sees_store(store_id))


def sees_pii_in_scope(actor: Actor) -> bool:
    """Whether the caller sees in full the PII of the members in their store scope (HQ admins
    every member's, store managers their stores'); anyone else sees it masked."""
    return actor.role in (Role.hq_admin, Role.store_manager)


def reveal_pii(session: Session, actor: Actor, member: Member) -> bool:
    """Whether the caller sees this member's PII in full; when they do, the reveal is audited.
    The request must run in a writing transaction (`WriteSessionDep` on a GET)."""
    if not may_see_pii(actor, member):
        return False
    if member.mobile:  # an erased member has no PII left to reveal
        audit.record(
            session, actor, "member.reveal_pii", "member", member.id, store_id=member.store_id
        )
    return True


def _own(actor: Actor, member_id: int) -> bool:
    """A member acting on their own data (never another's)."""
    return actor.role is Role.member and actor.kind == "member" and actor.id == member_id


def erase_member(session: Session, actor: Actor, member_id: int, reason: str) -> Member:
    """Anonymize irreversibly under PIPL: PII and identities go, financial rows stay. Members
    merged into this one (at any depth) are the same person: they are anonymized too, which
    frees their mobiles. A member may erase their own account (the member page)."""
    if not _own(actor, member_id):
        permissions.ERASE.check(actor)
    member = get_member(session, actor, member_id)
    if member.status == MemberStatus.erased:
        return member
    merged = [m for m in _merged_into(session, member.id) if m.status != MemberStatus.erased]
    for source in merged:
        _anonymize(session, source)
        audit.record(
            session,
            actor,
            "member.erase",
            "member",
            source.id,
            store_id=source.store_id,
            after={"reason": reason, "merged_into_id": source.merged_into_id},
        )
    _anonymize(session, member)
    audit.record(
        session,
        actor,
        "member.erase",
        "member",
        member.id,
        store_id=member.store_id,
        after={"reason": reason, "merged_ids": [m.id for m in merged]},
    )
    return member


def _merged_into(session: Session, member_id: int) -> list[Member]:
    """Every member merged into this one, directly or through a chain of merges."""
    found: list[Member] = []
    seen, frontier = {member_id}, [member_id]
    while frontier:
        rows = session.scalars(
            select(Member).where(Member.merged_into_id.in_(frontier)).order_by(Member.id)
        ).all()
        frontier = [m.id for m in rows if m.id not in seen]
        seen.update(frontier)
        found.extend(m for m in rows if m.id in frontier)
    return found


def _anonymize(session: Session, member: Member) -> None:
    for channel in ConsentChannel:
        current = session.get(MemberConsent, (member.id, channel.value))
        if current is not None and current.granted:
            record_consent(session, member.id, channel, False, "erasure")
    session.execute(delete(MemberIdentity).where(MemberIdentity.member_id == member.id))
    session.execute(delete(MemberAttributeValue).where(MemberAttributeValue.member_id == member.id))
    for handler in on_erase:
        handler(session, member)
    member.mobile = member.mobile_hash = member.email = member.code_secret = None
    set_name(member, None)
    member.birthday = member.birthday_md = None
    member.gender = "unknown"
    member.status = MemberStatus.erased.value
    member.erased_at = clock.now()
    session.flush()
    _forget_in_outbox(session, member.id)
    erased = MemberErased(member_id=member.id, occurred_at=member.erased_at)
    events.publish(session, MEMBER_ERASED, member.id, erased)


def _forget_in_outbox(session: Session, member_id: int) -> None:
    """The member's earlier profile events keep only their ids: the outbox holds no contact
    data of an erased member (an undelivered one is delivered so, a delivered one pruned)."""
    session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.type.in_([MEMBER_REGISTERED.name, MEMBER_UPDATED.name]),
            OutboxEvent.entity_id == str(member_id),
        )
        .values(payload={"member_id": member_id, "erased": True})
    )


def export_member(session: Session, actor: Actor, member_id: int) -> dict[str, Any]:
    """Everything Patron holds about a member, in clear: the PIPL copy for the member (who may
    ask for their own, from the member page)."""
    if not _own(actor, member_id):
        permissions.EXPORT.check(actor)
    member = visibility.get_member(session, actor, member_id)
    audit.record(session, actor, "member.export", "member", member.id, store_id=member.store_id)
    return {
        "exported_at": clock.now().isoformat(),
        "member": {
            "id": member.id,
            "status": member.status,
            "mobile": member.mobile,
            "name": member.name,
            "gender": member.gender,
            "birthday": member.birthday,
            "email": member.email,
            "store_id": member.store_id,
            "opening_guide_id": member.opening_guide_id,
            "guide_id": member.guide_id,
            "channel": member.channel,
            "registered_at": member.registered_at.isoformat(),
            "merged_into_id": member.merged_into_id,
        },
        **{name: section(session, member) for name, section in export_sections.items()},
    }


@export_sections.register("identities")
def _export_identities(session: Session, member: Member) -> list[dict[str, Any]]:
    return [
        {
            "type": i.type,
            "issuer": i.issuer,
            "value": i.value,
            "created_at": i.created_at.isoformat(),
        }
        for i in identities_of(session, member.id)
    ]


@export_sections.register("consent_history")
def _export_consents(session: Session, member: Member) -> list[dict[str, Any]]:
    return [
        {
            "channel": e.channel,
            "granted": e.granted,
            "source": e.source,
            "recorded_at": e.recorded_at.isoformat(),
        }
        for e in consent_history(session, member.id)
    ]


@export_sections.register("attributes")
def _export_attributes(session: Session, member: Member) -> dict[str, Any]:
    return {code: value for code, (_, value) in attributes_of(session, member.id).items()}


@export_sections.register("guide_history")
def _export_guides(session: Session, member: Member) -> list[dict[str, Any]]:
    return [
        {
            "guide_id": g.guide_id,
            "previous_guide_id": g.previous_guide_id,
            "reason": g.reason,
            "assigned_at": g.assigned_at.isoformat(),
        }
        for g in guide_history(session, member.id)
    ]
