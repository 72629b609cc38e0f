"""Marketing consent per channel: the current decision and its full history."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import bulk, clock
from patron.core.actor import Actor
from patron.members.models import (
    ConsentChannel,
    MemberConsent,
    MemberConsentEvent,
)
from patron.members.registry import get_active_member


def record_consent(
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
    member = get_active_member(session, actor, member_id, for_update=True)
    consent = record_consent(session, member.id, channel, granted, source)
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


def granted(channel: str) -> Select[int]:
    """The members whose current consent on the channel is granted (segment rules)."""
    return select(MemberConsent.member_id).where(
        MemberConsent.channel == channel, MemberConsent.granted.is_(True)
    )


def granted_on(channels: Collection[str]) -> Select[int]:
    """The members whose current consent on any of `channels` is granted."""
    return select(MemberConsent.member_id).where(
        MemberConsent.channel.in_(sorted(channels)), MemberConsent.granted.is_(True)
    )


def consented_among(
    session: Session, member_ids: Sequence[int], channels: Collection[str]
) -> set[int]:
    """The members among `member_ids` whose current consent on any of `channels` is granted
    (a campaign's batch: one query)."""
    if not member_ids:
        return set()
    return set(
        session.scalars(
            select(MemberConsent.member_id)
            .where(
                bulk.any_of(session, MemberConsent.member_id, list(member_ids)),
                MemberConsent.channel.in_(sorted(channels)),
                MemberConsent.granted.is_(True),
            )
            .distinct()
        )
    )
