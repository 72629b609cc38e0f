"""Referrals in another domain's work: a member merge moves the referrer and the invitee to
the survivor (an invitee merged into their referrer is no referral: rejected); erasure keeps the
rows (they hold no personal data beyond ids and a device hash); the PIPL export lists the
member's invite code, who invited them and whom they invited (by member id)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member
from patron.referrals.models import Referral, ReferralCode, ReferralStatus
from patron.referrals.service import Rejection


@member_merge.on_merge.register("referrals")
def _merge_referrals(session: Session, source: Member, target: Member) -> None:
    rows = session.scalars(
        select(Referral)
        .where((Referral.invitee_id == source.id) | (Referral.referrer_id == source.id))
        .order_by(Referral.id)
        .with_for_update()
    ).all()
    target_invited = session.scalar(select(Referral.id).where(Referral.invitee_id == target.id))
    for row in rows:
        if target.id in (row.referrer_id, row.invitee_id):
            # One person on both sides: the invitation was the member inviting themselves.
            _reject(row, Rejection.merged_into_referrer)
        elif row.invitee_id == source.id:
            if target_invited is None:
                row.invitee_id = target.id
            else:  # the survivor was invited already: one referrer per member
                _reject(row, Rejection.merged_duplicate)
        else:
            row.referrer_id = target.id
    session.flush()
    code = session.get(ReferralCode, source.id)
    if code is not None and session.get(ReferralCode, target.id) is None:
        code.member_id = target.id  # the survivor inherits the code: shared links still work
        session.flush()


def _reject(row: Referral, reason: str) -> None:
    if row.status == ReferralStatus.pending:
        row.status = ReferralStatus.rejected.value
        row.reason = reason


@privacy.export_sections.register("referrals")
def _export(session: Session, member: Member) -> dict[str, Any]:
    code = session.get(ReferralCode, member.id)
    rows = session.scalars(
        select(Referral)
        .where((Referral.invitee_id == member.id) | (Referral.referrer_id == member.id))
        .order_by(Referral.id)
    ).all()
    return {
        "invite_code": code.code if code else None,
        "referrals": [
            {
                "role": "invitee" if row.invitee_id == member.id else "referrer",
                "referrer_id": row.referrer_id,
                "invitee_id": row.invitee_id,
                "status": row.status,
                "reason": row.reason,
                "registered_at": row.registered_at.isoformat(),
                "rewarded_at": row.rewarded_at.isoformat() if row.rewarded_at else None,
                "reversed_at": row.reversed_at.isoformat() if row.reversed_at else None,
            }
            for row in rows
        ],
    }
