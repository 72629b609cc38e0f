"""The member registry: registration, identities, member code, attributes, consent, guides,
merge, erasure and export. PII is encrypted at rest and masked unless the caller may see it."""

from __future__ import annotations

import base64
import hmac
import json
import math
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor, Role
from patron.core.crypto import blind_index
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.ids import parse_row_id
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.members.models import (
    AttributeDefinition,
    AttributeType,
    Channel,
    ConsentChannel,
    Gender,
    GuideAssignment,
    IdentityType,
    Member,
    MemberAttributeValue,
    MemberConsent,
    MemberConsentEvent,
    MemberIdentity,
    MemberStatus,
)
from patron.members.schemas import (
    AttributeCreate,
    AttributeOut,
    AttributeUpdate,
    ConsentOut,
    IdentityIn,
    IdentityOut,
    MemberCodeOut,
    MemberCreate,
    MemberOut,
    MemberSummary,
    MemberUpdate,
)
from patron.staff import service as staff
from patron.staff.models import StaffUser
from patron.stores import service as stores

CODE_STEP_SECONDS = 60
CODE_DIGITS = 8
CODE_ID_DIGITS = 10
ASCII_DIGITS = re.compile(r"[0-9]+")
STORE_ROLES_FOR_GUIDES = (Role.guide, Role.cashier, Role.store_manager)
TEXT_ATTRIBUTE_MAX = 500


class MemberNotFound(NotFound):
    code = "member_not_found"
    title = "Member not found"


class MemberExists(Conflict):
    code = "member_exists"
    title = "A member with this mobile exists"


class IdentityTaken(Conflict):
    code = "identity_taken"
    title = "This identity belongs to another member"


class MemberCodeInvalid(NotFound):
    code = "member_code_invalid"
    title = "Member code unknown or expired"


class MemberNotActive(Conflict):
    code = "member_not_active"
    title = "Member is merged or erased"


class AttributeExists(Conflict):
    code = "attribute_exists"
    title = "An attribute with this code exists"


class AttributeNotFound(NotFound):
    code = "attribute_not_found"
    title = "Attribute not found"


# --- masking ----------------------------------------------------------------------------------


def mask_mobile(e164: str) -> str:
    national = e164.removeprefix("+86")
    return f"{national[:3]}****{national[-4:]}"


def mask_name(name: str) -> str:
    return name[0] + "*" * max(1, len(name) - 1)


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_birthday(iso: str) -> str:
    return "****" + iso[4:]


def national_mobile(e164: str) -> str:
    return e164.removeprefix("+86")


def may_see_pii(actor: Actor, member: Member) -> bool:
    """HQ admins, and the manager of the store where the member registered, see PII in full."""
    if actor.role is Role.hq_admin:
        return True
    return (
        actor.role is Role.store_manager
        and member.store_id is not None
        and actor.sees_store(member.store_id)
    )


# --- lookups and scope ------------------------------------------------------------------------


def visible(actor: Actor, member: Member) -> bool:
    """Whether the member falls in the caller's store scope (by registering store)."""
    return actor.all_stores or (member.store_id is not None and actor.sees_store(member.store_id))


def get_member(session: Session, actor: Actor, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or not visible(actor, member):
        raise MemberNotFound(f"no member {member_id}")
    return member


def get_active_member(session: Session, actor: Actor, member_id: int) -> Member:
    member = get_member(session, actor, member_id)
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


def ids_by_mobile(session: Session, mobiles: list[str]) -> dict[str, int]:
    """Active members' ids for E.164 mobiles (merged numbers lead to the survivor)."""
    by_hash = {blind_index("mobile", m): m for m in mobiles}
    found: dict[str, int] = {}
    for member in session.scalars(select(Member).where(Member.mobile_hash.in_(by_hash))):
        survivor = _follow_merges(session, member)
        if survivor is not None and survivor.status == MemberStatus.active:
            found[by_hash[member.mobile_hash or ""]] = survivor.id
    return found


def find_active(session: Session, member_id: int) -> Member | None:
    """A member by id across the whole chain (a member may buy in any store), if active."""
    member = session.get(Member, member_id)
    return member if member is not None and member.status == MemberStatus.active else None


def _follow_merges(session: Session, member: Member | None) -> Member | None:
    seen = set()
    while member is not None and member.merged_into_id is not None and member.id not in seen:
        seen.add(member.id)
        member = session.get(Member, member.merged_into_id)
    return member


def find_by_mobile(session: Session, mobile_e164: str) -> Member | None:
    member = session.scalar(
        select(Member).where(Member.mobile_hash == blind_index("mobile", mobile_e164))
    )
    return _follow_merges(session, member)


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
    return _follow_merges(session, session.get(Member, member_id) if member_id else None)


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


# --- registration and edits ------------------------------------------------------------------


def name_index(name: str | None) -> dict[str, str | None]:
    """Blind indexes of the name's first one, two and three characters."""
    return {
        f"name_prefix{n}": blind_index(f"name_prefix{n}", name[:n])
        if name and len(name) >= n
        else None
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


def _set_mobile(session: Session, member: Member, mobile: str) -> None:
    mobile_hash = blind_index("mobile", mobile)
    holder = session.scalar(select(Member).where(Member.mobile_hash == mobile_hash))
    if holder is not None and holder.id != member.id:
        owner = _follow_merges(session, holder)
        raise MemberExists(
            f"mobile {mask_mobile(mobile)} belongs to member {owner.id if owner else holder.id}",
            member_id=owner.id if owner else holder.id,
        )
    member.mobile = mobile
    member.mobile_hash = mobile_hash


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


def may_guide(user: StaffUser | None) -> bool:
    """Whether a staff user can be anyone's 归属导购: active store staff."""
    return user is not None and user.is_active and Role(user.role) in STORE_ROLES_FOR_GUIDES


def guide_refusal(
    guide: StaffUser | None, guide_id: int, store_id: int | None
) -> tuple[Reason, str] | None:
    """Why this staff user cannot be the 归属导购 of a member registered in `store_id`, or None:
    a guide is active store staff working in that store (all-store staff work in any)."""
    if guide is None or not may_guide(guide):
        return Reason.unknown_guide, f"no active store staff member {guide_id}"
    if not (guide.all_stores or (store_id is not None and store_id in guide.store_ids)):
        return (
            Reason.guide_not_in_store,
            f"staff member {guide_id} does not work in the member's registering store",
        )
    return None


def _check_guide(
    session: Session, guide_id: int | None, store_id: int | None, field: str = "guide_id"
) -> int | None:
    if guide_id is None:
        return None
    refusal = guide_refusal(staff.find_active(session, guide_id), guide_id, store_id)
    if refusal:
        raise InvalidInput(field, refusal[1], code=refusal[0])
    return guide_id


def register_member(session: Session, actor: Actor, data: MemberCreate) -> Member:
    store_id = _check_store(session, actor, data.store_id)
    guide_id = _check_guide(session, data.guide_id, store_id)
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
        _record_consent(session, member.id, channel, granted, f"registration:{data.channel.value}")
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
    return member


def _insert_member(session: Session, member: Member, mobile: str) -> None:
    """Insert, turning a concurrent registration of the same mobile into `member_exists`."""
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError as exc:
        holder = find_by_mobile(session, mobile)
        if holder is None:
            raise
        raise MemberExists(
            f"mobile {mask_mobile(mobile)} is registered", member_id=holder.id
        ) from exc


def update_member(session: Session, actor: Actor, member_id: int, data: MemberUpdate) -> Member:
    member = get_active_member(session, actor, member_id)
    changed = sorted(data.model_dump(exclude_unset=True))
    if "mobile" in changed:
        if data.mobile is None:
            raise InvalidInput("mobile", "may not be removed", code=Reason.missing)
        _set_mobile(session, member, data.mobile)
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
    session.flush()
    # The audit names the fields that changed, never their PII values.
    audit.record(
        session,
        actor,
        "member.update",
        "member",
        member.id,
        store_id=member.store_id,
        after={"fields": changed},
    )
    return member


# --- identities -------------------------------------------------------------------------------


def add_identity(
    session: Session, actor: Actor, member: Member, identity: IdentityIn, audited: bool = True
) -> MemberIdentity:
    issuer = identity.issuer if identity.type is IdentityType.external_id else ""
    if identity.type is IdentityType.external_id and not issuer:
        raise InvalidInput(
            "issuer", "external ids need the channel that issued them", code=Reason.issuer_required
        )
    value_hash = identity_hash(identity.type, identity.value, issuer)
    holder = session.scalar(
        select(MemberIdentity).where(
            MemberIdentity.type == identity.type.value, MemberIdentity.value_hash == value_hash
        )
    )
    if holder is not None:
        if holder.member_id == member.id:
            return holder
        raise IdentityTaken(
            f"this {identity.type.value} belongs to member {holder.member_id}",
            member_id=holder.member_id,
        )
    row = MemberIdentity(
        member_id=member.id,
        type=identity.type.value,
        issuer=issuer,
        value_hash=value_hash,
        value=identity.value.strip(),
    )
    session.add(row)
    session.flush()
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


# --- member code (会员码) -----------------------------------------------------------------------


def new_code_secret() -> str:
    """160 random bits in base32, the TOTP secret behind a member's code (RFC 4226 length)."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def _totp(member: Member) -> pyotp.TOTP:
    assert member.code_secret is not None
    return pyotp.TOTP(member.code_secret, digits=CODE_DIGITS, interval=CODE_STEP_SECONDS)


def issue_code(session: Session, actor: Actor, member_id: int) -> MemberCodeOut:
    """A code for the current step; it works for this step and the next, then never again."""
    member = get_active_member(session, actor, member_id)
    now = clock.now()
    step_start = int(now.timestamp()) // CODE_STEP_SECONDS * CODE_STEP_SECONDS
    expires_at = datetime.fromtimestamp(step_start + 2 * CODE_STEP_SECONDS, tz=now.tzinfo)
    return MemberCodeOut(
        code=f"{member.id:0{CODE_ID_DIGITS}d}{_totp(member).at(now)}", expires_at=expires_at
    )


def resolve_code(session: Session, code: str) -> Member:
    # ASCII digits only: str.isdigit() also takes '١٢٣' and '²', which int() then refuses.
    if len(code) != CODE_ID_DIGITS + CODE_DIGITS or not ASCII_DIGITS.fullmatch(code):
        raise MemberCodeInvalid()
    member_id = parse_row_id(code[:CODE_ID_DIGITS])  # ten digits reach past the id column
    if member_id is None:
        raise MemberCodeInvalid()
    member = session.get(Member, member_id)
    if member is None or member.status != MemberStatus.active or member.code_secret is None:
        raise MemberCodeInvalid()
    now, totp, given = clock.now(), _totp(member), code[CODE_ID_DIGITS:]
    steps = (now, now - timedelta(seconds=CODE_STEP_SECONDS))
    if not any(hmac.compare_digest(totp.at(moment), given) for moment in steps):
        raise MemberCodeInvalid()
    return member


# --- custom attributes ------------------------------------------------------------------------


def attribute_out(definition: AttributeDefinition) -> AttributeOut:
    return AttributeOut(
        id=definition.id,
        code=definition.code,
        label=definition.label,
        type=AttributeType(definition.type),
        options=json.loads(definition.options),
        required=definition.required,
        is_pii=definition.is_pii,
        is_active=definition.is_active,
    )


def list_attributes(session: Session, active_only: bool = False) -> list[AttributeDefinition]:
    query = select(AttributeDefinition).order_by(AttributeDefinition.id)
    if active_only:
        query = query.where(AttributeDefinition.is_active.is_(True))
    return list(session.scalars(query))


def _check_options(kind: AttributeType, options: list[str]) -> None:
    is_choice = kind.is_choice
    if is_choice and not options:
        raise InvalidInput(
            "options", "a choice attribute needs options", code=Reason.options_required
        )
    if not is_choice and options:
        raise InvalidInput(
            "options", "only choice attributes take options", code=Reason.options_not_allowed
        )
    if len(set(options)) != len(options):
        raise InvalidInput("options", "options repeat", code=Reason.options_repeat)


def create_attribute(session: Session, actor: Actor, data: AttributeCreate) -> AttributeDefinition:
    _check_options(data.type, data.options)
    if session.scalar(select(AttributeDefinition.id).where(AttributeDefinition.code == data.code)):
        raise AttributeExists(f"attribute {data.code} exists", field="code")
    definition = AttributeDefinition(
        code=data.code,
        label=data.label,
        type=data.type.value,
        options=json.dumps(data.options, ensure_ascii=False),
        required=data.required,
        is_pii=data.is_pii,
    )
    session.add(definition)
    session.flush()
    audit.record(
        session,
        actor,
        "member_attribute.create",
        "member_attribute",
        definition.id,
        after=data.model_dump(mode="json"),
    )
    return definition


def get_attribute(session: Session, attribute_id: int) -> AttributeDefinition:
    definition = session.get(AttributeDefinition, attribute_id)
    if definition is None:
        raise AttributeNotFound(f"no attribute {attribute_id}")
    return definition


def update_attribute(
    session: Session, actor: Actor, attribute_id: int, data: AttributeUpdate
) -> AttributeDefinition:
    definition = get_attribute(session, attribute_id)
    before = attribute_out(definition).model_dump(mode="json")
    if data.options is not None:
        _check_options(AttributeType(definition.type), data.options)
        definition.options = json.dumps(data.options, ensure_ascii=False)
    for field in ("label", "required", "is_active"):
        value = getattr(data, field)
        if value is not None:
            setattr(definition, field, value)
    session.flush()
    old, new = audit.changed_fields(before, attribute_out(definition).model_dump(mode="json"))
    audit.record(
        session,
        actor,
        "member_attribute.update",
        "member_attribute",
        definition.id,
        before=old,
        after=new,
    )
    return definition


def _parse_attribute(definition: AttributeDefinition, raw: Any) -> Any:
    field = f"attributes.{definition.code}"
    kind = AttributeType(definition.type)
    options = json.loads(definition.options)
    if kind is AttributeType.text:
        if not isinstance(raw, str) or len(raw) > TEXT_ATTRIBUTE_MAX:
            raise InvalidInput(
                field,
                f"must be text of at most {TEXT_ATTRIBUTE_MAX} characters",
                code=Reason.too_long,
            )
        return raw
    if kind is AttributeType.number:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise InvalidInput(field, "must be a number", code=Reason.not_a_number)
        if isinstance(raw, float) and not math.isfinite(raw):
            raise InvalidInput(field, "must be a finite number", code=Reason.not_a_number)
        return raw
    if kind is AttributeType.date:
        try:
            return date.fromisoformat(str(raw)).isoformat()
        except ValueError as exc:
            raise InvalidInput(
                field, "must be a date (YYYY-MM-DD)", code=Reason.not_a_date
            ) from exc
    if kind is AttributeType.single_choice:
        if raw not in options:
            raise InvalidInput(
                field, f"must be one of {', '.join(options)}", code=Reason.not_a_choice
            )
        return raw
    if not isinstance(raw, list) or any(item not in options for item in raw):
        raise InvalidInput(
            field, f"must be a list drawn from {', '.join(options)}", code=Reason.not_a_choice
        )
    return list(dict.fromkeys(raw))


def set_attributes(
    session: Session, member: Member, values: dict[str, Any], enforce_required: bool
) -> None:
    """Validate and store attribute values; None removes a value."""
    definitions = {d.code: d for d in list_attributes(session, active_only=True)}
    for code in values:
        if code not in definitions:
            raise InvalidInput(
                f"attributes.{code}", "no such member attribute", code=Reason.unknown_attribute
            )
    current = {
        row.attribute_id: row
        for row in session.scalars(
            select(MemberAttributeValue).where(MemberAttributeValue.member_id == member.id)
        )
    }
    for code, raw in values.items():
        definition = definitions[code]
        row = current.get(definition.id)
        if raw is None or raw == "" or raw == []:
            if row is not None:
                session.delete(row)
                del current[definition.id]
            continue
        encoded = json.dumps(_parse_attribute(definition, raw), ensure_ascii=False)
        if row is None:
            row = MemberAttributeValue(member_id=member.id, attribute_id=definition.id)
            session.add(row)
            current[definition.id] = row
        row.value, row.secret_value = (None, encoded) if definition.is_pii else (encoded, None)
    if enforce_required:
        for definition in definitions.values():
            if definition.required and definition.id not in current:
                raise InvalidInput(
                    f"attributes.{definition.code}",
                    f"{definition.label} is required",
                    code=Reason.missing,
                )
    session.flush()


def attributes_of(session: Session, member_id: int) -> dict[str, tuple[AttributeDefinition, Any]]:
    rows = session.execute(
        select(AttributeDefinition, MemberAttributeValue)
        .join(MemberAttributeValue, MemberAttributeValue.attribute_id == AttributeDefinition.id)
        .where(MemberAttributeValue.member_id == member_id)
        .order_by(AttributeDefinition.id)
    )
    return {
        definition.code: (definition, json.loads(value.secret_value or value.value or "null"))
        for definition, value in rows
    }


# --- consent ----------------------------------------------------------------------------------


def _record_consent(
    session: Session, member_id: int, channel: ConsentChannel, granted: bool, source: str
) -> MemberConsent:
    now = clock.now()
    session.add(
        MemberConsentEvent(
            member_id=member_id,
            channel=channel.value,
            granted=granted,
            source=source,
            recorded_at=now,
        )
    )
    current = session.get(MemberConsent, (member_id, channel.value))
    if current is None:
        current = MemberConsent(member_id=member_id, channel=channel.value)
        session.add(current)
    current.granted, current.source, current.recorded_at = granted, source, now
    session.flush()
    return current


def set_consent(
    session: Session,
    actor: Actor,
    member_id: int,
    channel: ConsentChannel,
    granted: bool,
    source: str,
) -> MemberConsent:
    member = get_active_member(session, actor, member_id)
    consent = _record_consent(session, member.id, channel, granted, source)
    audit.record(
        session,
        actor,
        "member.consent",
        "member",
        member.id,
        store_id=member.store_id,
        after={"channel": channel.value, "granted": granted, "source": source},
    )
    return consent


def consents_of(session: Session, member_id: int) -> list[MemberConsent]:
    return list(
        session.scalars(
            select(MemberConsent)
            .where(MemberConsent.member_id == member_id)
            .order_by(MemberConsent.channel)
        )
    )


def consent_history(session: Session, member_id: int) -> list[MemberConsentEvent]:
    return list(
        session.scalars(
            select(MemberConsentEvent)
            .where(MemberConsentEvent.member_id == member_id)
            .order_by(MemberConsentEvent.id)
        )
    )


def has_consent(session: Session, member_id: int, channel: ConsentChannel) -> bool:
    current = session.get(MemberConsent, (member_id, channel.value))
    return bool(current and current.granted)


# --- guides (归属导购) --------------------------------------------------------------------------


def reassign_guide(
    session: Session, actor: Actor, member_id: int, guide_id: int | None, reason: str
) -> Member:
    member = get_active_member(session, actor, member_id)
    new_guide = _check_guide(session, guide_id, member.store_id)
    if new_guide == member.guide_id:
        return member
    session.add(
        GuideAssignment(
            member_id=member.id,
            guide_id=new_guide,
            previous_guide_id=member.guide_id,
            assigned_by=actor.name,
            reason=reason,
        )
    )
    before = {"guide_id": member.guide_id}
    member.guide_id = new_guide
    session.flush()
    audit.record(
        session,
        actor,
        "member.guide",
        "member",
        member.id,
        store_id=member.store_id,
        before=before,
        after={"guide_id": new_guide},
    )
    return member


def guide_history(session: Session, member_id: int) -> list[GuideAssignment]:
    return list(
        session.scalars(
            select(GuideAssignment)
            .where(GuideAssignment.member_id == member_id)
            .order_by(GuideAssignment.id)
        )
    )


# --- presenting ---------------------------------------------------------------------------------


def summary(member: Member) -> MemberSummary:
    """The list view of a member: always masked."""
    return MemberSummary(
        id=member.id,
        status=MemberStatus(member.status),
        mobile=mask_mobile(member.mobile) if member.mobile else None,
        name=mask_name(member.name) if member.name else None,
        gender=Gender(member.gender),
        store_id=member.store_id,
        guide_id=member.guide_id,
        channel=Channel(member.channel),
        registered_at=member.registered_at,
    )


def present(session: Session, actor: Actor, member: Member) -> MemberOut:
    """The full view; PII in clear only for callers who may see it, and that reveal is audited."""
    full = may_see_pii(actor, member)
    if full and member.mobile:
        audit.record(
            session, actor, "member.reveal_pii", "member", member.id, store_id=member.store_id
        )
    masked = summary(member)
    return MemberOut(
        **masked.model_dump(exclude={"mobile", "name"}),
        mobile=(national_mobile(member.mobile) if full else masked.mobile)
        if member.mobile
        else None,
        name=member.name if full else masked.name,
        birthday=(member.birthday if full else mask_birthday(member.birthday))
        if member.birthday
        else None,
        email=(member.email if full else mask_email(member.email)) if member.email else None,
        opening_guide_id=member.opening_guide_id,
        merged_into_id=member.merged_into_id,
        pii_masked=not full,
        identities=[
            IdentityOut(
                id=i.id,
                type=IdentityType(i.type),
                issuer=i.issuer,
                value=i.value if full else _mask_value(i.value),
                created_at=i.created_at,
            )
            for i in identities_of(session, member.id)
        ],
        consents=[
            ConsentOut(
                channel=ConsentChannel(c.channel),
                granted=c.granted,
                source=c.source,
                recorded_at=c.recorded_at,
            )
            for c in consents_of(session, member.id)
        ],
        attributes={
            code: value if full or not definition.is_pii else _mask_value(str(value))
            for code, (definition, value) in attributes_of(session, member.id).items()
        },
    )


def _mask_value(value: str) -> str:
    return value[:2] + "*" * max(2, len(value) - 4) + value[-2:] if len(value) > 4 else "****"


# --- merge, erasure, export: each domain registers its own part ------------------------------

MergeHandler = Callable[[Session, Member, Member], None]
EraseHandler = Callable[[Session, Member], None]
ExportSection = Callable[[Session, Member], Any]
_merge_handlers: dict[str, MergeHandler] = {}
_erase_handlers: dict[str, EraseHandler] = {}
_export_sections: dict[str, ExportSection] = {}


def on_merge(name: str) -> Callable[[MergeHandler], MergeHandler]:
    """Register how a domain moves its rows from a merged member (source) to the survivor."""

    def register(handler: MergeHandler) -> MergeHandler:
        _merge_handlers[name] = handler
        return handler

    return register


def on_erase(name: str) -> Callable[[EraseHandler], EraseHandler]:
    """Register how a domain anonymizes its personal data of an erased member."""

    def register(handler: EraseHandler) -> EraseHandler:
        _erase_handlers[name] = handler
        return handler

    return register


def export_section(name: str) -> Callable[[ExportSection], ExportSection]:
    """Register what a domain holds about a member, for the PIPL export."""

    def register(section: ExportSection) -> ExportSection:
        _export_sections[name] = section
        return section

    return register


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # "registered", "consent", "guide", later "order", "refund", "points", ...
    summary: str
    data: dict[str, Any]


TimelineSource = Callable[[Session, Member], list[TimelineEvent]]
_timeline_sources: dict[str, TimelineSource] = {}


def timeline_source(name: str) -> Callable[[TimelineSource], TimelineSource]:
    """Register a domain's contribution to the member timeline (orders, points, coupons...)."""

    def register(source: TimelineSource) -> TimelineSource:
        _timeline_sources[name] = source
        return source

    return register


def timeline(
    session: Session, actor: Actor, member_id: int, limit: int = 100
) -> list[TimelineEvent]:
    """What happened to a member, newest first, from every domain that registered a source."""
    member = get_member(session, actor, member_id)
    events = [event for source in _timeline_sources.values() for event in source(session, member)]
    return sorted(events, key=lambda e: e.at, reverse=True)[:limit]


@timeline_source("members.registration")
def _registration_events(session: Session, member: Member) -> list[TimelineEvent]:
    data = {"channel": member.channel, "store_id": member.store_id}
    return [TimelineEvent(member.registered_at, "registered", "registered", data)]


@timeline_source("members.consents")
def _consent_events(session: Session, member: Member) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            e.recorded_at,
            "consent",
            "consent_granted" if e.granted else "consent_withdrawn",
            {"channel": e.channel, "source": e.source},
        )
        for e in consent_history(session, member.id)
    ]


@timeline_source("members.guides")
def _guide_events(session: Session, member: Member) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            g.assigned_at,
            "guide",
            "guide_assigned",
            {"guide_id": g.guide_id, "previous_guide_id": g.previous_guide_id, "reason": g.reason},
        )
        for g in guide_history(session, member.id)
    ]


def _lock_pair(session: Session, first_id: int, second_id: int) -> dict[int, Member]:
    # Rows locked in primary-key order, so two merges of the same pair cannot deadlock.
    rows = session.scalars(
        select(Member)
        .where(Member.id.in_((first_id, second_id)))
        .order_by(Member.id)
        .with_for_update()
    )
    return {member.id: member for member in rows}


def merge_members(session: Session, actor: Actor, source_id: int, target_id: int) -> Member:
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
    for handler in _merge_handlers.values():
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
        after={"target_id": target.id, "moved": sorted(_merge_handlers)},
    )
    return target


@on_merge("members.identities")
def _merge_identities(session: Session, source: Member, target: Member) -> None:
    session.execute(
        update(MemberIdentity)
        .where(MemberIdentity.member_id == source.id)
        .values(member_id=target.id)
    )


@on_merge("members.consents")
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


@on_merge("members.attributes")
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


@on_merge("members.guides")
def _merge_guides(session: Session, source: Member, target: Member) -> None:
    session.execute(
        update(GuideAssignment)
        .where(GuideAssignment.member_id == source.id)
        .values(member_id=target.id)
    )
    if target.guide_id is None and source.guide_id is not None:
        target.guide_id = source.guide_id


def erase_member(session: Session, actor: Actor, member_id: int, reason: str) -> Member:
    """Anonymize irreversibly under PIPL: PII and identities go, financial rows stay. Members
    merged into this one (at any depth) are the same person: they are anonymized too, which
    frees their mobiles."""
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
            _record_consent(session, member.id, channel, False, "erasure")
    session.execute(delete(MemberIdentity).where(MemberIdentity.member_id == member.id))
    session.execute(delete(MemberAttributeValue).where(MemberAttributeValue.member_id == member.id))
    for handler in _erase_handlers.values():
        handler(session, member)
    member.mobile = member.mobile_hash = member.email = member.code_secret = None
    set_name(member, None)
    member.birthday = member.birthday_md = None
    member.gender = "unknown"
    member.status = MemberStatus.erased.value
    member.erased_at = clock.now()
    session.flush()


def export_member(session: Session, actor: Actor, member_id: int) -> dict[str, Any]:
    """Everything Patron holds about a member, in clear: the PIPL copy for the member."""
    member = get_member(session, actor, member_id)
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
        **{name: section(session, member) for name, section in _export_sections.items()},
    }


@export_section("identities")
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


@export_section("consent_history")
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


@export_section("attributes")
def _export_attributes(session: Session, member: Member) -> dict[str, Any]:
    return {code: value for code, (_, value) in attributes_of(session, member.id).items()}


@export_section("guide_history")
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
