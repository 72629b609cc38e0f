"""The member's own data, for the member API and the member page: always the acting member's,
never another's. Each function takes the member actor (`core.actor.member_actor`) and reads or
changes that member only; objects named by a caller (a coupon's code) must be theirs, else 404
as if nobody held them. Reads and writes go through the owning domains' services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput, Unauthenticated
from patron.core.pagination import PageResult
from patron.core.reasons import Reason
from patron.coupons import gifting, holding
from patron.coupons.models import Coupon, CouponStatus
from patron.me.errors import BirthdayAlreadySet
from patron.me.schemas import MeUpdate
from patron.members import consents, privacy, registration
from patron.members.models import ConsentChannel, Member, MemberConsent, MemberStatus
from patron.members.registry import find_active, find_by_mobile
from patron.members.schemas import MemberUpdate
from patron.points import queries as points_queries
from patron.points.models import PointsEntry

CONSENT_SOURCE = "member_page"
EXPIRING_SOON = timedelta(days=30)
ERASURE_REASON = "member request (member page)"


def member_id_of(actor: Actor) -> int:
    """The acting member's id; anything but a member actor is refused."""
    if actor.kind != "member" or actor.role is not Role.member or actor.id is None:
        raise Unauthenticated("a member token is required")
    return actor.id


def me(session: Session, actor: Actor) -> Member:
    member = find_active(session, member_id_of(actor))
    if member is None:
        raise Unauthenticated("a member token is required")
    return member


def consents_of(session: Session, actor: Actor) -> dict[ConsentChannel, MemberConsent | None]:
    held = {c.channel: c for c in consents.consents_of(session, member_id_of(actor))}
    return {channel: held.get(channel.value) for channel in ConsentChannel}


def update_profile(session: Session, actor: Actor, data: MeUpdate) -> Member:
    """Name, e-mail, and the birthday once (a later different one is refused)."""
    member = me(session, actor)
    given = data.model_dump(exclude_unset=True)
    if "birthday" in given and member.birthday is not None:
        if given["birthday"] is None or given["birthday"].isoformat() != member.birthday:
            raise BirthdayAlreadySet("the birthday is set once")
        del given["birthday"]
    for field in ("name", "birthday"):
        if field in given and given[field] is None:
            raise InvalidInput(field, "may not be removed", code=Reason.missing)
    if not given:
        return member
    return registration.update_member(session, actor, member.id, MemberUpdate.model_validate(given))


def set_consent(
    session: Session, actor: Actor, channel: ConsentChannel, granted: bool
) -> MemberConsent:
    return consents.set_consent(
        session, actor, member_id_of(actor), channel, granted, CONSENT_SOURCE
    )


@dataclass(frozen=True)
class Points:
    available: int
    pending: int
    expiring_soon: int
    expiring: list[tuple[Any, int]]
    history: PageResult[PointsEntry]


def points(session: Session, actor: Actor, cursor: str | None, limit: int) -> Points:
    member_id = member_id_of(actor)
    held = points_queries.balance(session, member_id)
    soon = clock.now() + EXPIRING_SOON
    return Points(
        available=held.available,
        pending=held.pending,
        expiring_soon=sum(p for at, p in held.expiring if at <= soon),
        expiring=list(held.expiring),
        history=points_queries.entries(session, member_id, cursor, limit),
    )


def coupons(
    session: Session, actor: Actor, status: CouponStatus | None, cursor: str | None, limit: int
) -> PageResult[Coupon]:
    return holding.member_coupons(session, member_id_of(actor), status, cursor, limit)


def transfer_coupon(session: Session, actor: Actor, code: str, mobile: str) -> Coupon:
    """Give one of my transferable coupons to the member holding `mobile`."""
    member_id_of(actor)
    target = find_by_mobile(session, mobile)
    if target is None or target.status != MemberStatus.active:
        raise InvalidInput(
            "mobile", "no active member holds this mobile", code=Reason.unknown_member
        )
    return gifting.transfer_coupon(session, actor, code, target.id)


def export(session: Session, actor: Actor) -> dict[str, Any]:
    return privacy.export_member(session, actor, member_id_of(actor))


def erase(session: Session, actor: Actor) -> Member:
    return privacy.erase_member(session, actor, member_id_of(actor), ERASURE_REASON)
