"""How to reach a member, for the message service: the addresses per channel of an active member
(following merges), and who a mobile number that replied to an SMS belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.members.models import IdentityType, MemberIdentity, MemberStatus
from patron.members.registry import find_active, find_by_mobile
from patron.members.schemas import normalize_mobile


@dataclass(frozen=True)
class Contact:
    member_id: int
    name: str
    mobile: str | None
    email: str | None
    wechat_openid: str | None


def contact_of(session: Session, member_id: int) -> Contact | None:
    """The active member's addresses; None for an unknown, merged-away or erased member."""
    member = find_active(session, member_id)
    if member is None:
        return None
    openid = session.scalar(
        select(MemberIdentity.value)
        .where(
            MemberIdentity.member_id == member.id,
            MemberIdentity.type == IdentityType.wechat_openid.value,
        )
        .order_by(MemberIdentity.id.desc())
        .limit(1)
    )
    return Contact(member.id, member.name or "", member.mobile, member.email, openid)


def active_member_by_mobile(session: Session, mobile: str) -> int | None:
    """The active member holding `mobile` (any common spelling, e.g. a provider's 8613812345678),
    or None."""
    raw = mobile.strip()
    if raw.startswith("86") and len(raw) == 13:
        raw = "+" + raw
    try:
        e164 = normalize_mobile(raw)
    except ValueError:
        return None
    member = find_by_mobile(session, e164)
    return member.id if member is not None and member.status == MemberStatus.active else None
