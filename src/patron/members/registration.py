"""Registering members and editing their own fields; PII is encrypted at rest and indexed blind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, events
from patron.core.actor import Actor
from patron.core.crypto import blind_index
from patron.core.db import unique_or
from patron.core.errors import InvalidInput
from patron.core.hooks import Hook
from patron.core.reasons import Reason
from patron.members.attributes import set_attributes
from patron.members.codes import new_code_secret
from patron.members.consents import record_consent
from patron.members.errors import MemberExists
from patron.members.events import (
    MEMBER_REGISTERED,
    MEMBER_UPDATED,
    MemberRegistered,
    MemberUpdated,
)
from patron.members.guides import check_guide
from patron.members.identities import add_identity
from patron.members.masking import mask_mobile
from patron.members.models import (
    GuideAssignment,
    Member,
)
from patron.members.permissions import FLAG_STAFF
from patron.members.registry import follow_merges, get_active_member
from patron.members.schemas import (
    MemberCreate,
    MemberUpdate,
)
from patron.stores import service as stores

MemberHandler = Callable[[Session, Actor, Member], None]
# What other domains do once a member registered or their own fields changed (growth for them).
on_registered: Hook[MemberHandler] = Hook("member registration")
on_updated: Hook[MemberHandler] = Hook("member update")


def name_index(
    name: str | None, index: Callable[[str, str], str] = blind_index
) -> dict[str, str | None]:
    """Blind indexes of the name's first one, two and three characters (`index` is
    `blind_index`, or an import's memo of it)."""
    return {
        f"name_prefix{n}": index(f"name_prefix{n}", name[:n]) if name and len(name) >= n else None
        for n in (1, 2, 3)
    }


def set_name(member: Member, name: str | None) -> None:
    member.name = name
    for column, value in name_index(name).items():
        setattr(member, column, value)


def set_birthday(member: Member, birthday: date | None) -> None:
    if birthday is not None and birthday > clock.today():
        raise InvalidInput("birthday", "is in the future", code=Reason.in_future)
    member.birthday = birthday.isoformat() if birthday else None
    member.birthday_md = birthday.strftime("%m-%d") if birthday else None


MOBILE_UNIQUE = "uq_members_mobile_hash"
# Yes/no fields of a member, audited with their values (no PII).
FLAGS = ("is_staff", "no_marketing")


def _set_mobile(session: Session, member: Member, mobile: str) -> None:
    mobile_hash = blind_index("mobile", mobile)
    holder = session.scalar(select(Member).where(Member.mobile_hash == mobile_hash))
    if holder is not None and holder.id != member.id:
        raise _mobile_taken(session, mobile, holder)
    member.mobile = mobile
    member.mobile_hash = mobile_hash


def _mobile_taken(session: Session, mobile: str, holder: Member | None = None) -> MemberExists:
    """`member_exists`, naming the member who holds the mobile (or whom it was merged into);
    without `holder`, after a concurrent request took the mobile, it is looked up."""
    holder = holder or session.scalar(
        select(Member).where(Member.mobile_hash == blind_index("mobile", mobile))
    )
    owner = follow_merges(session, holder) or holder
    if owner is None:
        return MemberExists(f"mobile {mask_mobile(mobile)} was just taken")
    return MemberExists(
        f"mobile {mask_mobile(mobile)} belongs to member {owner.id}", member_id=owner.id
    )


def default_store(actor: Actor) -> int | None:
    """The registering store when none is named: the caller's only store. Staff of several
    stores must name one (InvalidInput), or the member would fall outside their own scope."""
    if actor.store_ids is None:
        return None
    if len(actor.store_ids) != 1:
        raise InvalidInput("store_id", "choose the registering store", code=Reason.missing)
    return next(iter(actor.store_ids))


def _check_store(session: Session, actor: Actor, store_id: int | None) -> int | None:
    """The registering store: the one given (in the caller's scope), else `default_store`."""
    if store_id is None:
        return default_store(actor)
    try:
        return stores.get_store(session, actor, store_id).id
    except stores.StoreNotFound as exc:
        raise InvalidInput(
            "store_id", f"no store {store_id} in your scope", code=Reason.unknown_store
        ) from exc


def register_member(session: Session, actor: Actor, data: MemberCreate) -> Member:
    store_id = _check_store(session, actor, data.store_id)
    guide_id = check_guide(session, data.guide_id, store_id)
    member = Member(
        gender=data.gender.value,
        email=data.email,
        store_id=store_id,
        opening_guide_id=guide_id,
        guide_id=guide_id,
        channel=data.channel.value,
        registered_at=clock.now(),
        code_secret=new_code_secret(),
    )
    _set_mobile(session, member, data.mobile)
    set_name(member, data.name)
    set_birthday(member, data.birthday)
    _insert_member(session, member, data.mobile)
    for identity in data.identities:
        add_identity(session, actor, member, identity, audited=False)
    for channel, granted in data.consents.items():
        record_consent(session, member.id, channel, granted, f"registration:{data.channel.value}")
    set_attributes(session, member, data.attributes, enforce_required=True)
    if guide_id is not None:
        session.add(
            GuideAssignment(
                member_id=member.id, guide_id=guide_id, assigned_by=actor.name, reason="开卡"
            )
        )
    audit.record(
        session,
        actor,
        "member.register",
        "member",
        member.id,
        store_id=store_id,
        after={"channel": member.channel, "store_id": store_id, "guide_id": guide_id},
    )
    payload = MemberRegistered(
        member_id=member.id,
        store_id=store_id,
        channel=member.channel,
        source="api",
        mobile=member.mobile,
        name=member.name,
        occurred_at=member.registered_at,
    )
    events.publish(session, MEMBER_REGISTERED, member.id, payload)
    for handler in on_registered:
        handler(session, actor, member)
    return member


def _insert_member(session: Session, member: Member, mobile: str) -> None:
    """Insert, turning a concurrent registration of the same mobile into `member_exists`."""
    with unique_or(session, {MOBILE_UNIQUE: lambda: _mobile_taken(session, mobile)}):
        session.add(member)


def update_member(session: Session, actor: Actor, member_id: int, data: MemberUpdate) -> Member:
    changed = sorted(data.model_dump(exclude_unset=True))
    if "is_staff" in changed:
        FLAG_STAFF.check(actor)
    member = get_active_member(session, actor, member_id, for_update=True)
    flags_before = {flag: getattr(member, flag) for flag in FLAGS if flag in changed}
    if "mobile" in changed:
        if data.mobile is None:
            raise InvalidInput("mobile", "may not be removed", code=Reason.missing)
        mobile = data.mobile
        with unique_or(session, {MOBILE_UNIQUE: lambda: _mobile_taken(session, mobile)}):
            _set_mobile(session, member, mobile)
    if "name" in changed:
        if data.name is None:
            raise InvalidInput("name", "may not be removed", code=Reason.missing)
        set_name(member, data.name.strip())
    if "gender" in changed and data.gender is not None:
        member.gender = data.gender.value
    if "birthday" in changed:
        set_birthday(member, data.birthday)
    if "email" in changed:
        member.email = data.email
    if data.attributes is not None:
        set_attributes(session, member, data.attributes, enforce_required=True)
    for flag in flags_before:
        value = getattr(data, flag)
        if value is None:
            raise InvalidInput(flag, "may not be removed", code=Reason.missing)
        setattr(member, flag, value)
    session.flush()
    # The audit names the fields that changed, never their PII values; flags with their values.
    flags = {flag: getattr(member, flag) for flag in flags_before}
    audit.record(
        session,
        actor,
        "member.update",
        "member",
        member.id,
        store_id=member.store_id,
        before=flags_before or None,
        after={"fields": changed} | flags,
    )
    if changed:
        update = MemberUpdated(
            member_id=member.id,
            store_id=member.store_id,
            fields=tuple(changed),
            mobile=member.mobile if "mobile" in changed else None,
            name=member.name if "name" in changed else None,
            occurred_at=clock.now(),
        )
        events.publish(session, MEMBER_UPDATED, member.id, update)
    for handler in on_updated:
        handler(session, actor, member)
    return member
