"""Giving a coupon to another member (转赠) and voiding one. Each leaves a history event on the
coupon and an audit entry. Locks follow the global order: the members' rows (`hold`, in id
order), then the coupon's row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.coupons import codes, holding
from patron.coupons.errors import CouponNotFound, CouponNotTransferable, CouponUnavailable
from patron.coupons.models import (
    Coupon,
    CouponEvent,
    CouponEventKind,
    CouponStatus,
    CouponTemplate,
)
from patron.coupons.permissions import TRANSFER, VOID
from patron.members import merge as member_merge
from patron.members import registry
from patron.members.models import MemberStatus


def transfer_coupon(session: Session, actor: Actor, code: str, to_member_id: int) -> Coupon:
    """Move an available, valid coupon of a transferable template to another active member;
    its validity stays. The caller must be able to read the holder (a till serving them); a
    member (the member page, the member API) gives only a coupon of their own."""
    if actor.role is not Role.member:
        TRANSFER.check(actor)
    owner = holding.get_coupon(session, actor, code).member_id
    if actor.role is Role.member and owner != actor.id:
        raise CouponNotFound("no such coupon")
    if to_member_id == owner:
        raise InvalidInput(
            "to_member_id", "the coupon is this member's already", code=Reason.transfer_to_self
        )
    held = member_merge.hold(session, [owner, to_member_id])
    target = held.get(to_member_id)
    if target is None or target.status != MemberStatus.active:
        raise InvalidInput(
            "to_member_id", f"no active member {to_member_id}", code=Reason.unknown_member
        )
    coupon = _locked(session, code, owner)
    template = session.get(CouponTemplate, coupon.template_id)
    assert template is not None
    if not template.transferable:
        raise CouponNotTransferable(
            f"template {template.id} does not allow gifts", coupon=coupon.code
        )
    coupon.member_id = to_member_id
    _record(session, actor, coupon, CouponEventKind.transfer, owner, to_member_id, "")
    return coupon


def void_coupon(session: Session, actor: Actor, code: str, reason: str) -> Coupon:
    """Void an available coupon, with a reason. A store manager voids the coupons of the
    members registered at their stores; HQ any."""
    VOID.check(actor)
    if not reason.strip():
        raise InvalidInput("reason", "a void needs a reason", code=Reason.missing)
    owner = holding.get_coupon(session, actor, code).member_id
    member = registry.members_by_id(session, [owner]).get(owner)
    if member is None or not registry.visible(actor, member):
        raise CouponNotFound("no such coupon")
    member_merge.hold(session, [owner])
    coupon = _locked(session, code, owner)
    coupon.status = CouponStatus.void.value
    coupon.voided_at = clock.now()
    coupon.void_reason = reason.strip()
    _record(session, actor, coupon, CouponEventKind.void, owner, None, coupon.void_reason)
    return coupon


def _locked(session: Session, code: str, owner: int) -> Coupon:
    """The coupon's row, locked, still `owner`'s and available at this moment; else 409
    `coupon_unavailable`."""
    coupon = session.scalars(
        select(Coupon)
        .where(Coupon.code == codes.normalized(code))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    status = holding.status_at(coupon, clock.now())
    if coupon.member_id != owner or status is not CouponStatus.available:
        raise CouponUnavailable(f"the coupon is {status}", coupon=coupon.code)
    return coupon


def _record(
    session: Session,
    actor: Actor,
    coupon: Coupon,
    kind: CouponEventKind,
    from_member_id: int | None,
    to_member_id: int | None,
    reason: str,
) -> None:
    session.add(
        CouponEvent(
            coupon_id=coupon.id,
            kind=kind.value,
            from_member_id=from_member_id,
            to_member_id=to_member_id,
            operator=actor.name,
            reason=reason,
            created_at=clock.now(),
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        f"coupon.{kind.value}",
        "coupon",
        coupon.id,
        before={"member_id": from_member_id},
        after={"member_id": coupon.member_id, "status": coupon.status, "reason": reason},
    )
