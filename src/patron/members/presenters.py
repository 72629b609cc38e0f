"""Response models of members: the masked summary and the full view."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

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
