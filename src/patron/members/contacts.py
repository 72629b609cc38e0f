"""How to reach a member, for the message service: the addresses per channel of an active member
(following merges), and who a mobile number that replied to an SMS belongs to."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Exists, func, select
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.members.models import IdentityType, Member, MemberIdentity, MemberStatus
from patron.members.registry import find_active, find_by_mobile
from patron.members.schemas import normalize_mobile


@dataclass(frozen=True)
class Contact:
    member_id: int
    name: str
    mobile: str | None
    email: str | None
    wechat_openid: str | None
    # 不接受营销: no marketing message goes to the member, whatever their consents say.
    no_marketing: bool = False


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
    return Contact(
        member.id, member.name or "", member.mobile, member.email, openid, member.no_marketing
    )


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


ADDRESS_FIELDS = ("name", "mobile", "email", "wechat_openid")


def contacts_of(
    session: Session, member_ids: Sequence[int], fields: Collection[str]
) -> dict[int, Contact]:
    """`contact_of` for many members (a campaign's batch): the active ones among `member_ids`,
    with only the `fields` asked for (of ADDRESS_FIELDS; the others None or ""), in one query
    plus one for WeChat ids: nothing decrypted that is not needed."""
    if not member_ids:
        return {}
    columns = [getattr(Member, f) for f in ("name", "mobile", "email") if f in fields]
    rows = session.execute(
        select(Member.id, Member.no_marketing, *columns).where(
            bulk.any_of(session, Member.id, list(member_ids)),
            Member.status == MemberStatus.active.value,
        )
    )
    found: dict[int, Contact] = {}
    for member_id, no_marketing, *values in rows:
        given = dict(zip((c.key for c in columns), values, strict=True))
        found[member_id] = Contact(
            member_id,
            given.get("name") or "",
            given.get("mobile"),
            given.get("email"),
            None,
            no_marketing,
        )
    if "wechat_openid" in fields and found:
        for member_id, openid in _openids(session, list(found)):
            contact = found[member_id]
            found[member_id] = Contact(
                contact.member_id,
                contact.name,
                contact.mobile,
                contact.email,
                openid,
                contact.no_marketing,
            )
    return found


def _openids(session: Session, member_ids: list[int]) -> list[tuple[int, str]]:
    """Each member's latest WeChat id (as `contact_of` picks it)."""
    latest = (
        select(func.max(MemberIdentity.id))
        .where(
            bulk.any_of(session, MemberIdentity.member_id, member_ids),
            MemberIdentity.type == IdentityType.wechat_openid.value,
        )
        .group_by(MemberIdentity.member_id)
    )
    rows = session.execute(
        select(MemberIdentity.member_id, MemberIdentity.value).where(MemberIdentity.id.in_(latest))
    )
    return [(member_id, value) for member_id, value in rows]


def refuses_marketing(member_id: ColumnElement[int]) -> Exists:
    """For another domain's statement: the member set `no_marketing` (不接受营销)."""
    return select(Member.id).where(Member.id == member_id, Member.no_marketing.is_(True)).exists()


def has_address(member_id: ColumnElement[int], field: str) -> Exists:
    """For another domain's statement: the active member has an address of this kind (one of
    ADDRESS_FIELDS but the name)."""
    if field == "wechat_openid":
        return (
            select(MemberIdentity.id)
            .where(
                MemberIdentity.member_id == member_id,
                MemberIdentity.type == IdentityType.wechat_openid.value,
            )
            .exists()
        )
    column = getattr(Member, field)
    return select(Member.id).where(Member.id == member_id, column.is_not(None)).exists()
