"""Taking back the coupons issued under one source reference."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.coupons import gifting, reclaiming
from patron.coupons.models import CouponEvent, IssueSource
from tests.factories import issue_coupon, make_coupon_template, make_member, make_store

REF = "recharge:7"


def test_only_the_members_available_coupons_can_be_taken_back(session: Session) -> None:
    store = make_store(session)
    member, friend = make_member(session, store), make_member(session, store)
    template = make_coupon_template(session, transferable=True, valid_days=1)
    source = {"source": IssueSource.recharge_package, "source_ref": REF}
    kept, given = (issue_coupon(session, template, member, **source) for _ in range(2))
    issue_coupon(session, template, member, source=IssueSource.recharge_package, source_ref="x")
    gifting.transfer_coupon(session, SYSTEM, given.code, friend.id)
    issued = reclaiming.issued_under(session, member.id, IssueSource.recharge_package, REF)
    assert ([c.id for c in issued.available], [c.id for c in issued.gone]) == (
        [kept.id],
        [given.id],
    )
    reclaiming.void_all(session, SYSTEM, issued.available, "refund")
    assert (kept.status, kept.void_reason) == ("void", "refund")
    events = session.scalars(select(CouponEvent).where(CouponEvent.coupon_id == kept.id)).all()
    assert [(e.kind, e.reason) for e in events] == [("void", "refund")]
    with clock.frozen(clock.now() + timedelta(days=3)):
        expired = reclaiming.issued_under(session, friend.id, IssueSource.recharge_package, REF)
    # Seen from the friend: the coupon given them has expired (nothing to take back, nothing
    # gone); the one the member holds is another member's.
    assert [c.id for c in expired.available] == []
    assert [c.id for c in expired.gone] == [kept.id]
