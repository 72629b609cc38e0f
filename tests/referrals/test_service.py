"""Referrals: codes, recording an invitation, the reward job (once, the monthly cap, the
self-referral checks), reversal within the window and not after, and merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import InvalidInput
from patron.coupons.models import Coupon, CouponStatus
from patron.member_auth.models import SignIn
from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.points import queries as points_queries
from patron.referrals import report, rewards, service
from patron.referrals.errors import AlreadyReferred, ReferralWindowOver
from patron.referrals.models import Referral, ReferralStatus
from patron.stores.models import Store
from tests.factories import make_coupon_template, make_member, make_order, make_store

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture(autouse=True)
def _clock() -> None:
    clock.set_now(NOW)


@pytest.fixture
def store(session: Session) -> Store:
    return make_store(session)


def setup_program(session: Session, **fields: object) -> None:
    program = service.get_program(session)
    values = {"referrer_points": 200, "invitee_points": 100, "monthly_cap": 10} | fields
    for name, value in values.items():
        setattr(program, name, value)
    session.flush()


def buy(session: Session, store: Store, member: Member, reference: str = "", **kw: object) -> int:
    payment: dict[str, object] = {"method": "wechat_pay", "amount": 12000}
    if reference:
        payment["reference"] = reference
    occurred = kw.pop("occurred_at", clock.now().isoformat())
    return make_order(session, store, member, payments=[payment], occurred_at=occurred, **kw).id


def points_of(session: Session, member: Member) -> int:
    return points_queries.balance(session, member.id).available


def test_a_code_is_drawn_once_unambiguous_and_leads_to_its_holder(
    session: Session, store: Store
) -> None:
    member = make_member(session, store)
    code = service.code_of(session, member.id)
    assert len(code) == service.CODE_LENGTH
    assert set(code) <= set(service.ALPHABET)
    assert not set(code) & set("01OIL")
    assert service.code_of(session, member.id) == code
    assert service.holder_of(session, code.lower()) == member.id
    assert service.invite_link(code, "https://vip.example.com/") == (
        f"https://vip.example.com/m/login?invite={code}"
    )
    assert service.invite_link(code) == f"/m/login?invite={code}"


def test_record_invite_refuses_unknown_and_own_codes_and_a_second_referrer(
    session: Session, store: Store
) -> None:
    referrer, invitee = make_member(session, store), make_member(session, store)
    code = service.code_of(session, referrer.id)
    with pytest.raises(InvalidInput) as unknown:
        service.record_invite(session, invitee.id, "ZZZZZZ")
    assert unknown.value.extra["errors"][0]["code"] == "unknown_invite_code"
    with pytest.raises(InvalidInput) as own:
        service.record_invite(session, referrer.id, code)
    assert own.value.extra["errors"][0]["code"] == "own_invite_code"
    referral = service.record_invite(session, invitee.id, code, "dev-1")
    assert referral is not None
    assert referral.status == ReferralStatus.pending
    with pytest.raises(AlreadyReferred):
        service.record_invite(session, invitee.id, code)


def test_an_invitee_on_the_referrers_device_is_rejected(session: Session, store: Store) -> None:
    referrer, invitee = make_member(session, store), make_member(session, store)
    session.add(SignIn(member_id=referrer.id, device_hash="dev-shared", client_hash=""))
    session.flush()
    referral = service.record_invite(
        session, invitee.id, service.code_of(session, referrer.id), "dev-shared"
    )
    assert referral is not None
    assert (referral.status, referral.reason) == ("rejected", "same_device")


def test_nothing_recorded_while_the_program_is_off(session: Session, store: Store) -> None:
    referrer, invitee = make_member(session, store), make_member(session, store)
    setup_program(session, enabled=False)
    assert service.record_invite(session, invitee.id, service.code_of(session, referrer.id)) is None


def test_staff_record_within_seven_days_of_registration(session: Session, store: Store) -> None:
    referrer, invitee = make_member(session, store), make_member(session, store)
    code = service.code_of(session, referrer.id)
    clock.set_now(NOW + timedelta(days=8))
    with pytest.raises(ReferralWindowOver):
        service.record_by_staff(session, SYSTEM, invitee.id, code)
    clock.set_now(NOW + timedelta(days=6))
    assert service.record_by_staff(session, SYSTEM, invitee.id, code).referrer_id == referrer.id


def invite(
    session: Session, store: Store, referrer: Member | None = None
) -> tuple[Member, Member, Referral]:
    referrer = referrer or make_member(session, store)
    invitee = make_member(session, store)
    referral = service.record_invite(session, invitee.id, service.code_of(session, referrer.id))
    assert referral is not None
    return referrer, invitee, referral


def test_the_first_paid_order_rewards_both_sides_once(session: Session, store: Store) -> None:
    template = make_coupon_template(session)
    setup_program(session, invitee_coupon_template_id=template.id)
    referrer, invitee, referral = invite(session, store)
    assert rewards.run(session, NOW) == rewards.RunReport()  # nothing bought yet
    order_id = buy(session, store, invitee)
    before = points_of(session, invitee)
    assert rewards.run(session, NOW) == rewards.RunReport(rewarded=1)
    assert rewards.run(session, NOW) == rewards.RunReport()
    session.refresh(referral)
    assert (referral.status, referral.order_id) == ("rewarded", order_id)
    assert points_of(session, referrer) == 200
    assert points_of(session, invitee) == before + 100
    coupons = session.scalars(
        select(Coupon).where(Coupon.source_ref == f"referral:{referral.id}")
    ).all()
    assert [c.member_id for c in coupons] == [invitee.id]
    mine = report.mine(session, referrer.id)
    assert (mine.invited, mine.rewarded, mine.points) == (1, 1, 200)
    assert mine.invitees[0].mobile.count("*") == 4


def test_the_monthly_cap_rejects_rewards_past_it(session: Session, store: Store) -> None:
    setup_program(session, monthly_cap=2)
    referrer = make_member(session, store)
    made = [invite(session, store, referrer) for _ in range(3)]
    for _, invitee, _ in made:
        buy(session, store, invitee)
    assert rewards.run(session, NOW) == rewards.RunReport(rewarded=2, rejected=1)
    statuses = [(r.status, r.reason) for _, _, r in made]
    for _, _, r in made:
        session.refresh(r)
    statuses = [(r.status, r.reason) for _, _, r in made]
    assert statuses == [("rewarded", ""), ("rewarded", ""), ("rejected", "monthly_cap")]
    # Next month the cap starts again.
    _, next_invitee, next_referral = invite(session, store, referrer)
    buy(session, store, next_invitee)
    assert rewards.run(session, NOW + timedelta(days=25)) == rewards.RunReport(rewarded=1)


def test_a_shared_payment_reference_is_a_self_referral(session: Session, store: Store) -> None:
    setup_program(session)
    _, honest, fair = invite(session, store)
    buy(session, store, honest, reference="CARD-1001")  # another referral's, bought first
    referrer, invitee, referral = invite(session, store)
    buy(session, store, referrer, reference="CARD-6222")
    buy(session, store, invitee, reference="CARD-6222")
    assert rewards.run(session, NOW) == rewards.RunReport(rewarded=1, rejected=1)
    session.refresh(referral)
    session.refresh(fair)
    assert (referral.status, referral.reason) == ("rejected", "same_payment")
    assert fair.status == "rewarded"
    assert points_of(session, referrer) > 0  # earned by their own order, not granted
    assert set(points_queries.grants_tagged(session, "referral:")) == {f"referral:{fair.id}"}


def refund_all(session: Session, order_id: int) -> None:
    orders.refund_order(session, SYSTEM, order_id, RefundCreate(all=True))


def test_a_full_refund_within_the_window_reverses_both_rewards(
    session: Session, store: Store
) -> None:
    template = make_coupon_template(session)
    setup_program(session, referrer_coupon_template_id=template.id, reversal_days=30)
    referrer, invitee, referral = invite(session, store)
    order_id = buy(session, store, invitee)
    rewards.run(session, NOW)
    clock.set_now(NOW + timedelta(days=10))
    refund_all(session, order_id)
    assert rewards.run(session, clock.now()) == rewards.RunReport(reversed=1)
    assert rewards.run(session, clock.now()) == rewards.RunReport()
    session.refresh(referral)
    assert referral.status == "reversed"
    assert referral.reversed_at is not None
    assert points_of(session, referrer) == 0
    coupon = session.scalar(select(Coupon).where(Coupon.source_ref == f"referral:{referral.id}"))
    assert coupon is not None
    assert coupon.status == CouponStatus.void
    assert report.mine(session, referrer.id).points == 0


def test_a_refund_after_the_window_keeps_the_rewards(session: Session, store: Store) -> None:
    setup_program(session, reversal_days=7)
    referrer, invitee, referral = invite(session, store)
    order_id = buy(session, store, invitee)
    rewards.run(session, NOW)
    clock.set_now(NOW + timedelta(days=8))
    refund_all(session, order_id)
    assert rewards.run(session, clock.now()) == rewards.RunReport()
    session.refresh(referral)
    assert referral.status == "rewarded"
    assert points_of(session, referrer) == 200


def test_an_order_refunded_before_the_job_saw_it_rewards_nobody(
    session: Session, store: Store
) -> None:
    setup_program(session)
    referrer, invitee, referral = invite(session, store)
    refund_all(session, buy(session, store, invitee))
    assert rewards.run(session, NOW) == rewards.RunReport(rejected=1)
    session.refresh(referral)
    assert referral.reason == "order_refunded"


def test_merges_move_both_sides_and_an_invitee_merged_into_the_referrer_is_rejected(
    session: Session, store: Store
) -> None:
    referrer, invitee, referral = invite(session, store)
    other = make_member(session, store)
    code = service.code_of(session, referrer.id)
    member_merge.merge_members(session, SYSTEM, referrer.id, other.id)
    session.refresh(referral)
    assert referral.referrer_id == other.id
    assert service.holder_of(session, code) == other.id  # the code moved with the merge
    member_merge.merge_members(session, SYSTEM, invitee.id, other.id)
    session.refresh(referral)
    assert (referral.status, referral.reason) == ("rejected", "merged_into_referrer")


def test_the_report_counts_by_status_and_reason(session: Session, store: Store) -> None:
    setup_program(session, monthly_cap=1)
    referrer = make_member(session, store)
    made = [invite(session, store, referrer) for _ in range(3)]
    buy(session, store, made[0][1])
    buy(session, store, made[1][1])
    rewards.run(session, NOW)
    found = report.report(session, SYSTEM, NOW.date(), NOW.date())
    assert (found.invites, found.pending, found.rewarded, found.rejected) == (3, 1, 1, 1)
    assert found.rejected_by_reason == {"monthly_cap": 1}
    assert found.points_given == 300
    assert found.top_referrers[0].member_id == referrer.id
    assert ("rejected.monthly_cap", 1) in list(report.rows(found))


def test_the_export_lists_the_code_and_both_sides(session: Session, store: Store) -> None:
    referrer, invitee = make_member(session, store), make_member(session, store)
    code = service.code_of(session, referrer.id)
    service.record_invite(session, invitee.id, code)
    mine = privacy.export_member(session, SYSTEM, referrer.id)["referrals"]
    assert mine["invite_code"] == code
    assert [(r["role"], r["invitee_id"]) for r in mine["referrals"]] == [("referrer", invitee.id)]
    theirs = privacy.export_member(session, SYSTEM, invitee.id)["referrals"]
    assert theirs["invite_code"] is None
    assert [(r["role"], r["referrer_id"]) for r in theirs["referrals"]] == [
        ("invitee", referrer.id)
    ]
