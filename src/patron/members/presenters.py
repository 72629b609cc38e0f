"""Response models of members: the masked summary and the full view; members as rows of a
list file (a segment's export)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.members.attributes import attributes_of
from patron.members.consents import consents_of
from patron.members.identities import identities_of
from patron.members.masking import (
    mask_birthday,
    mask_email,
    mask_mobile,
    mask_name,
    mask_value,
    national_mobile,
)
from patron.members.models import (
    AttributeDefinition,
    AttributeType,
    Channel,
    ConsentChannel,
    Gender,
    IdentityType,
    Member,
    MemberConsent,
    MemberConsentEvent,
    MemberStatus,
)
from patron.members.privacy import may_see_pii_at
from patron.members.schemas import (
    AttributeOut,
    ConsentOut,
    IdentityOut,
    MemberOut,
    MemberSummary,
)


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


def present(session: Session, member: Member, full: bool) -> MemberOut:
    """The full view; PII in clear only when `full` (see `privacy.reveal_pii`), else masked."""
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
        is_staff=member.is_staff,
        no_marketing=member.no_marketing,
        identities=[
            IdentityOut(
                id=i.id,
                type=IdentityType(i.type),
                issuer=i.issuer,
                value=i.value if full else mask_value(i.value),
                created_at=i.created_at,
            )
            for i in identities_of(session, member.id)
        ],
        consents=consents_out(session, member.id),
        attributes={
            code: value if full or not definition.is_pii else mask_value(str(value))
            for code, (definition, value) in attributes_of(session, member.id).items()
        },
    )


def consents_out(session: Session, member_id: int) -> list[ConsentOut]:
    return [consent_out(c) for c in consents_of(session, member_id)]


def consent_out(consent: MemberConsent | MemberConsentEvent) -> ConsentOut:
    """A current consent, or one decision of its history."""
    return ConsentOut(
        channel=ConsentChannel(consent.channel),
        granted=consent.granted,
        source=consent.source,
        recorded_at=consent.recorded_at,
    )


@dataclass(frozen=True)
class MemberRow:
    """A member as a row of a list file: PII in clear or masked as `present` shows it."""

    id: int
    name: str | None
    mobile: str | None
    gender: str
    birthday: str | None
    email: str | None
    store_id: int | None
    channel: str
    registered_at: datetime


def member_rows(
    session: Session, actor: Actor, member_ids: Select[int], chunk: int
) -> Iterator[list[MemberRow]]:
    """The members `member_ids` selects, in id order, `chunk` to a query (columns, not ORM
    objects: memory stays flat); PII in clear only where the caller may see it
    (`privacy.may_see_pii_at`), else masked."""
    columns = (
        Member.id,
        Member.name,
        Member.mobile,
        Member.gender,
        Member.birthday,
        Member.email,
        Member.store_id,
        Member.channel,
        Member.registered_at,
    )
    last = 0
    while True:
        rows = session.execute(
            select(*columns)
            .where(Member.id.in_(member_ids), Member.id > last)
            .order_by(Member.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        yield [_member_row(actor, row) for row in rows]
        last = rows[-1].id
        if len(rows) < chunk:
            return


def _member_row(actor: Actor, row: Any) -> MemberRow:
    full = may_see_pii_at(actor, row.store_id)
    return MemberRow(
        id=row.id,
        name=(row.name if full else mask_name(row.name)) if row.name else None,
        mobile=(national_mobile(row.mobile) if full else mask_mobile(row.mobile))
        if row.mobile
        else None,
        gender=row.gender,
        birthday=(row.birthday if full else mask_birthday(row.birthday)) if row.birthday else None,
        email=(row.email if full else mask_email(row.email)) if row.email else None,
        store_id=row.store_id,
        channel=row.channel,
        registered_at=row.registered_at,
    )
