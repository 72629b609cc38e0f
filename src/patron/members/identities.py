"""A member's identities: card numbers, WeChat ids, external ids."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.crypto import blind_index
from patron.core.db import unique_or
from patron.core.errors import InvalidInput, NotFound
from patron.core.reasons import Reason
from patron.members.errors import IdentityTaken
from patron.members.models import (
    IdentityType,
    Member,
    MemberIdentity,
)
from patron.members.registry import follow_merges, get_active_member
from patron.members.schemas import (
    IdentityIn,
)

IDENTITY_UNIQUE = "uq_member_identities_type_value_hash"


def _holder(session: Session, kind: IdentityType, value_hash: str) -> MemberIdentity | None:
    return session.scalar(
        select(MemberIdentity).where(
            MemberIdentity.type == kind.value, MemberIdentity.value_hash == value_hash
        )
    )


def add_identity(
    session: Session, actor: Actor, member: Member, identity: IdentityIn, audited: bool = True
) -> MemberIdentity:
    issuer = identity.issuer if identity.type is IdentityType.external_id else ""
    if identity.type is IdentityType.external_id and not issuer:
        raise InvalidInput(
            "issuer", "external ids need the channel that issued them", code=Reason.issuer_required
        )
    value_hash = identity_hash(identity.type, identity.value, issuer)
    holder = _holder(session, identity.type, value_hash)
    if holder is None:
        row = MemberIdentity(
            member_id=member.id,
            type=identity.type.value,
            issuer=issuer,
            value_hash=value_hash,
            value=identity.value.strip(),
        )
        raced = IdentityTaken(f"this {identity.type.value} was just taken")
        try:
            with unique_or(session, {IDENTITY_UNIQUE: raced}):
                session.add(row)
        except IdentityTaken:
            # Another request added it between the check and the insert: answer as the check
            # would have, had it come second.
            holder = _holder(session, identity.type, value_hash)
            if holder is None:
                raise
    if holder is not None:
        if holder.member_id == member.id:
            return holder
        raise IdentityTaken(
            f"this {identity.type.value} belongs to member {holder.member_id}",
            member_id=holder.member_id,
        )
    if audited:
        audit.record(
            session,
            actor,
            "member.identity_add",
            "member",
            member.id,
            store_id=member.store_id,
            after={"type": row.type, "issuer": issuer},
        )
    return row


def remove_identity(session: Session, actor: Actor, member_id: int, identity_id: int) -> None:
    member = get_active_member(session, actor, member_id)
    row = session.get(MemberIdentity, identity_id)
    if row is None or row.member_id != member.id:
        raise NotFound(f"member {member_id} has no identity {identity_id}")
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor,
        "member.identity_remove",
        "member",
        member.id,
        store_id=member.store_id,
        before={"type": row.type, "issuer": row.issuer},
    )


def identities_of(session: Session, member_id: int) -> list[MemberIdentity]:
    return list(
        session.scalars(
            select(MemberIdentity)
            .where(MemberIdentity.member_id == member_id)
            .order_by(MemberIdentity.id)
        )
    )


def identity_hash(identity_type: IdentityType, value: str, issuer: str = "") -> str:
    return blind_index(f"identity:{identity_type.value}:{issuer}", value.strip())


def find_by_identity(
    session: Session, identity_type: IdentityType, value: str, issuer: str = ""
) -> Member | None:
    member_id = session.scalar(
        select(MemberIdentity.member_id).where(
            MemberIdentity.type == identity_type.value,
            MemberIdentity.value_hash == identity_hash(identity_type, value, issuer),
        )
    )
    return follow_merges(session, session.get(Member, member_id) if member_id else None)


def ids_by_identity(
    session: Session, identity_type: IdentityType, values: list[str], issuer: str = ""
) -> dict[str, int]:
    """The member holding each identity value, for many values in one query (a pasted list):
    value -> member id, before following merges (the caller follows them with the members it
    loads). Values nobody holds are left out."""
    by_hash = {identity_hash(identity_type, v, issuer): v for v in values}
    if not by_hash:
        return {}
    rows = session.execute(
        select(MemberIdentity.value_hash, MemberIdentity.member_id).where(
            MemberIdentity.type == identity_type.value, MemberIdentity.value_hash.in_(by_hash)
        )
    )
    return {by_hash[value_hash]: member_id for value_hash, member_id in rows}
