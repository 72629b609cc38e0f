from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from patron.coupons import jobs
from patron.coupons.models import Coupon, CouponEvent, CouponStatus, ExpiryNotice
from patron.members import merge as member_merge
from patron.members import privacy
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_staff,
    staff_headers,
)


def test_a_merge_moves_every_coupon_with_a_history_event(session: Session) -> None:
    source, target = make_member(session), make_member(session)
    template = make_coupon_template(session, valid_days=2)
    kept = issue_coupon(session, template, source)
    used = issue_coupon(session, template, source)
    used.status = CouponStatus.redeemed.value
    jobs.run(session, kept.issued_at)  # an expiry notice, to move too
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    holders = session.scalars(select(Coupon.member_id).where(Coupon.template_id == template.id))
    assert set(holders) == {target.id}
    events = session.scalars(select(CouponEvent).where(CouponEvent.kind == "merge")).all()
    assert sorted((e.coupon_id, e.from_member_id, e.to_member_id) for e in events) == [
        (kept.id, source.id, target.id),
        (used.id, source.id, target.id),
    ]
    notices = session.scalars(select(ExpiryNotice.member_id)).all()
    assert notices == [target.id]  # the available coupon's


def test_erasure_keeps_the_coupons_and_export_lists_them(
    client: TestClient, session: Session, settings: Settings
) -> None:
    member = make_member(session)
    template = make_coupon_template(session)
    coupon = issue_coupon(session, template, member)
    exported = privacy.export_member(session, SYSTEM, member.id)
    assert exported["coupons"] == [
        {
            "code": coupon.code,
            "template": template.name,
            "status": "available",
            "issued_at": coupon.issued_at.isoformat(),
            "valid_until": coupon.valid_until.isoformat(),
            "order_id": None,
            "discount": None,
        }
    ]
    privacy.erase_member(session, SYSTEM, member.id, "PIPL request")
    session.refresh(coupon)
    assert (coupon.member_id, coupon.status) == (member.id, CouponStatus.available)


def test_the_timeline_shows_issue_and_gifts(
    client: TestClient, session: Session, settings: Settings
) -> None:
    giver, friend = make_member(session), make_member(session)
    coupon = issue_coupon(session, make_coupon_template(session, transferable=True), giver)
    from patron.coupons import gifting

    gifting.transfer_coupon(session, SYSTEM, coupon.code, friend.id)
    headers = staff_headers(make_staff(session), settings)
    events = client.get(f"/api/v1/members/{giver.id}/timeline", headers=headers).json()
    summaries = {(e["kind"], e["summary"]) for e in events}
    assert ("coupon", "given") in summaries
    friends = client.get(f"/api/v1/members/{friend.id}/timeline", headers=headers).json()
    assert {("coupon", "issued"), ("coupon", "received")} <= {
        (e["kind"], e["summary"]) for e in friends
    }
