"""Which members a caller may read by id, and the identity lookups that find any member.

HQ callers (every store) read every member. A caller scoped to some stores (store staff, a
store's API key) reads a member by id only when the member is its business:

- registered at one of its stores (开卡门店, the stores that manage the member: `registry`);
- served at one of its stores, as another domain tells through `served_in` (orders: the member
  has an order there);
- found by this caller through an identity lookup (mobile, card, WeChat id, external id or the
  member code) within `LOOKUP_GRANT`, so that a till can show the balance of a member it has
  never served before the first order.

Any other id answers 404 `member_not_found` like an id nobody holds: walking ids finds nothing.
Identity lookups search the whole chain (any store serves any member) and each one that finds a
member is audited (`member.lookup`: the caller, the kind of identity, never its value, and the
member found). Writes to a member (profile, identities, consent, guide, adjustments) stay with
the stores that manage the member.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.core.hooks import Hook
from patron.members import codes, identities, registry
from patron.members.errors import MemberNotFound
from patron.members.models import IdentityType, Member, MemberStatus

# How long a lookup lets its caller read the member it found by id.
LOOKUP_GRANT = timedelta(hours=24)
LOOKUP_ACTION = "member.lookup"

ServedIn = Callable[[Session, int, frozenset[int]], bool]
# Whether a member has been served in any of the given stores (one handler per domain).
served_in: Hook[ServedIn] = Hook("member served in stores")


class LookupKind(StrEnum):
    mobile = "mobile"
    card_no = IdentityType.card_no.value
    wechat_openid = IdentityType.wechat_openid.value
    wechat_unionid = IdentityType.wechat_unionid.value
    external_id = IdentityType.external_id.value
    member_code = "member_code"


def readable(session: Session, actor: Actor, member: Member) -> bool:
    """Whether the caller may read this member by id (see the module's rule)."""
    if actor.store_ids is None or registry.visible(actor, member):
        return True
    if any(served(session, member.id, actor.store_ids) for served in served_in):
        return True
    since = clock.now() - LOOKUP_GRANT
    return audit.recorded_since(session, actor, LOOKUP_ACTION, "member", member.id, since)


def get_member(session: Session, actor: Actor, member_id: int) -> Member:
    """A member by id, whatever their status, if the caller may read them; else 404."""
    member = session.get(Member, member_id)
    if member is None or not readable(session, actor, member):
        raise MemberNotFound(f"no member {member_id}")
    return member


def get_active_member(session: Session, actor: Actor, member_id: int) -> Member:
    """An active member the caller may read (a till serving them); else 404."""
    member = session.get(Member, member_id)
    if (
        member is None
        or member.status != MemberStatus.active
        or not readable(session, actor, member)
    ):
        raise MemberNotFound(f"no active member {member_id}")
    return member


def look_up(
    session: Session, actor: Actor, kind: LookupKind, value: str, issuer: str = ""
) -> Member | None:
    """The active member an identity names, in any store (a merged member's identities lead to
    the survivor). `value` is an E.164 mobile for `mobile`. Finding one is audited and lets the
    caller read the member by id for `LOOKUP_GRANT`; an unknown member code is refused."""
    if kind is LookupKind.mobile:
        found = registry.find_by_mobile(session, value)
    elif kind is LookupKind.member_code:
        found = codes.resolve_code(session, value)
    else:
        found = identities.find_by_identity(session, IdentityType(kind.value), value, issuer)
    if found is None or found.status != MemberStatus.active:
        return None
    audit.record(
        session,
        actor,
        LOOKUP_ACTION,
        "member",
        found.id,
        store_id=found.store_id,
        after={"by": kind.value},
    )
    return found
