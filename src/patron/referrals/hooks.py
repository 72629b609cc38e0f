"""Referrals in another domain's work: a member merge moves the referrer and the invitee to
the survivor (an invitee merged into their referrer is no referral: rejected); erasure keeps the
rows (they hold no personal data beyond ids and a device hash)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.members import merge as member_merge
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
