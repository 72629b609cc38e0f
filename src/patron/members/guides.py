"""The member's guide (归属导购): who may be one, and reassignment with history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.members.models import (
    GuideAssignment,
    Member,
)
from patron.members.registry import get_active_member
from patron.staff import service as staff
from patron.staff.models import StaffUser

STORE_ROLES_FOR_GUIDES = (Role.guide, Role.cashier, Role.store_manager)


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


def check_guide(
    session: Session, guide_id: int | None, store_id: int | None, field: str = "guide_id"
) -> int | None:
    if guide_id is None:
        return None
    refusal = guide_refusal(staff.find_active(session, guide_id), guide_id, store_id)
    if refusal:
        raise InvalidInput(field, refusal[1], code=refusal[0])
    return guide_id


def reassign_guide(
    session: Session, actor: Actor, member_id: int, guide_id: int | None, reason: str
) -> Member:
    member = get_active_member(session, actor, member_id)
    new_guide = check_guide(session, guide_id, member.store_id)
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
