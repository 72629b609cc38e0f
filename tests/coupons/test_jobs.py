from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.coupons import jobs
from patron.coupons.models import CouponEvent, CouponStatus, ExpiryNotice
from tests.factories import issue_coupon, make_coupon_template, make_member

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def test_expiry_and_notices_once_however_often_the_job_runs(session: Session) -> None:
    member = make_member(session)
    with clock.frozen(T0):
        one_day = issue_coupon(session, make_coupon_template(session, valid_days=1), member)
        three_days = issue_coupon(session, make_coupon_template(session, valid_days=3), member)
        month = issue_coupon(session, make_coupon_template(session, valid_days=30), member)
        used = issue_coupon(session, make_coupon_template(session, valid_days=1), member)
    used.status = CouponStatus.redeemed.value
    session.flush()
    now = T0 + timedelta(days=1)  # noon on day 2: day 1's coupons are over
    first = jobs.run(session, now)
    assert (first.expired, first.notices) == (1, 1)
    assert jobs.run(session, now) == jobs.JobReport(expired=0, notices=0)
    for coupon in (one_day, three_days, month, used):
        session.refresh(coupon)
    assert one_day.status == CouponStatus.expired
    assert (three_days.status, month.status) == (CouponStatus.available, CouponStatus.available)
    assert used.status == CouponStatus.redeemed
    events = session.scalars(select(CouponEvent).where(CouponEvent.coupon_id == one_day.id))
    assert [(e.kind, e.from_member_id) for e in events] == [("expire", member.id)]
    notices = session.scalars(select(ExpiryNotice)).all()
    assert [(n.coupon_id, n.member_id, n.valid_until) for n in notices] == [
        (three_days.id, member.id, three_days.valid_until)
    ]


def test_the_coupon_expires_the_second_after_its_last(session: Session) -> None:
    with clock.frozen(T0):
        coupon = issue_coupon(
            session, make_coupon_template(session, valid_days=1), make_member(session)
        )
    assert jobs.run(session, coupon.valid_until).expired == 0
    assert jobs.run(session, coupon.valid_until + timedelta(seconds=1)).expired == 1
