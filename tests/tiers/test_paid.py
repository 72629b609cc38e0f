from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.errors import InvalidInput
from patron.core.settings import Settings
from patron.coupons.models import Coupon
from patron.members import merge as member_merge
from patron.members.models import Member
from patron.tiers import benefits, jobs, ladder, paid, review, standing
from patron.tiers.models import MemberTier, PaidMembership, Tier, TierChange
from tests.factories import (
    make_coupon_template,
    make_member,
    make_staff,
    make_store,
    staff_headers,
)
from tests.tiers.helpers import make_ladder, order

NOW = datetime(2026, 1, 31, 2, 0, tzinfo=UTC)  # 31 January, Shanghai
YUAN = 100


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(NOW)


@pytest.fixture
def tiers(session: Session) -> dict[str, Tier]:
    return {t.code: t for t in make_ladder(session)}


def plan(session: Session, tier: Tier, term: str = "month") -> int:
    values = {"name": "Plus", "term": term, "price": 2_900, "tier_id": tier.id}
    return paid.save_plan(session, SYSTEM, values).id


def pay(session: Session, member: Member, plan_id: int, ref: str = "") -> PaidMembership:
    return paid.pay(session, SYSTEM, member.id, paid.Payment(plan_id, "wechat_pay", ref, None))


def tier_of(session: Session, member: Member) -> str:
    session.expire_all()
    found = standing.current_tier(session, member.id)
    assert found is not None
    return found.code


def reasons(session: Session, member: Member) -> list[str]:
    return list(
        session.scalars(
            select(TierChange.reason)
            .where(TierChange.member_id == member.id)
            .order_by(TierChange.id)
        )
    )


def test_terms_end_by_calendar_months_and_renewals_extend(
    session: Session, tiers: dict[str, Tier]
) -> None:
    member = make_member(session)
    monthly = plan(session, tiers["gold"])
    first = pay(session, member, monthly)
    # 31 January + 1 month: the last day of February, Shanghai time
    assert (first.starts_at, first.ends_at) == (NOW, datetime(2026, 2, 28, 2, 0, tzinfo=UTC))
    renewal = pay(session, member, monthly)
    assert (renewal.starts_at, renewal.ends_at) == (
        first.ends_at,
        datetime(2026, 3, 28, 2, 0, tzinfo=UTC),
    )
    assert tier_of(session, member) == "gold"
    assert reasons(session, member) == ["paid"]  # the renewal changes no tier
    row = standing.standings(session, [member.id])[member.id]
    assert row.paid


def test_lapse_falls_back_to_the_held_tier_once(session: Session, tiers: dict[str, Tier]) -> None:
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 1_200 * YUAN, NOW)  # silver
    pay(session, member, plan(session, tiers["diamond"]))
    assert tier_of(session, member) == "diamond"
    end = datetime(2026, 2, 28, 2, 0, tzinfo=UTC)
    clock.set_now(end - timedelta(seconds=1))
    assert paid.lapse(session, clock.now()) == paid.LapseReport(0, 0, 0)
    clock.set_now(end)
    assert paid.lapse(session, end) == paid.LapseReport(terms=1, members=1, changes=1)
    assert tier_of(session, member) == "silver"
    assert reasons(session, member) == ["upgrade", "paid", "paid_lapsed"]
    assert paid.lapse(session, end) == paid.LapseReport(0, 0, 0)
    statuses = session.scalars(select(PaidMembership.status)).all()
    assert statuses == ["lapsed"]


def test_a_lower_paid_tier_writes_no_history(session: Session, tiers: dict[str, Tier]) -> None:
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 6_000 * YUAN, NOW)  # gold
    pay(session, member, plan(session, tiers["silver"]))
    clock.set_now(NOW + timedelta(days=40))
    assert paid.lapse(session, clock.now()).changes == 0
    assert reasons(session, member) == ["upgrade"]
    assert tier_of(session, member) == "gold"


def test_paid_tier_holds_through_review(session: Session, tiers: dict[str, Tier]) -> None:
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 6_000 * YUAN, NOW)  # gold, reviewed a year on
    yearly = plan(session, tiers["gold"], "year")
    pay(session, member, yearly)
    pay(session, member, yearly)  # renewed: paid until 31 January 2028
    at = NOW.replace(year=2027) + timedelta(days=30)
    clock.set_now(at)
    assert review.run(session, at).downgraded == 1  # the held tier goes down ...
    assert tier_of(session, member) == "gold"  # ... the paid one holds
    clock.set_now(datetime(2028, 2, 1, tzinfo=UTC))
    paid.lapse(session, clock.now())
    assert tier_of(session, member) == "silver"


def test_refusals_change_nothing(session: Session, tiers: dict[str, Tier]) -> None:
    with pytest.raises(InvalidInput) as refused:
        paid.save_plan(session, SYSTEM, {"name": "X", "term": "month", "price": 1, "benefits": {}})
    assert refused.value.extra["errors"][0]["code"] == "plan_grants_nothing"
    with pytest.raises(InvalidInput):
        paid.save_plan(
            session,
            SYSTEM,
            {"name": "X", "term": "month", "price": 1, "tier_id": tiers["normal"].id},
        )
    inactive = plan(session, tiers["gold"])
    paid.save_plan(session, SYSTEM, {"active": False}, inactive)
    member = make_member(session)
    with pytest.raises(paid.PaidPlanNotActive):
        pay(session, member, inactive)
    assert session.scalar(select(func.count()).select_from(PaidMembership)) == 0
    assert tier_of(session, member) == "normal"


def test_api_plans_and_idempotent_payment_notice(
    client: TestClient, session: Session, settings: Settings, tiers: dict[str, Tier]
) -> None:
    marketing = staff_headers(make_staff(session, Role.hq_marketing), settings)
    body = {
        "name": "黑金会员",
        "name_en": "Black gold",
        "term": "quarter",
        "price": 9_900,
        "benefits": {"discount_percent": 5, "monthly_coupons": []},
    }
    created = client.post("/api/v1/paid-plans", json=body, headers=marketing)
    assert created.status_code == 201, created.text
    plan_id = created.json()["id"]
    patched = client.patch(
        f"/api/v1/paid-plans/{plan_id}", json={"tier_id": tiers["gold"].id}, headers=marketing
    )
    assert patched.status_code == 200, patched.text
    refused = client.patch(f"/api/v1/paid-plans/{plan_id}", json={"price": None}, headers=marketing)
    assert refused.status_code == 422
    member = make_member(session)
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    notice = {"plan_id": plan_id, "payment": {"method": "alipay", "reference": "P-1"}}
    url = f"/api/v1/members/{member.id}/paid-memberships"
    cashier = staff_headers(make_staff(session, Role.cashier), settings)
    assert (
        client.post(url, json=notice, headers=cashier | {"Idempotency-Key": "k0"}).status_code
        == 403
    )
    first = client.post(url, json=notice, headers=admin | {"Idempotency-Key": "k1"})
    again = client.post(url, json=notice, headers=admin | {"Idempotency-Key": "k1"})
    assert first.status_code == 201, first.text
    assert again.json() == first.json()
    assert first.json()["ends_at"] == "2026-04-30T02:00:00Z"
    listed = client.get(url, headers=cashier)
    assert [m["id"] for m in listed.json()] == [first.json()["id"]]
    shown = client.get(f"/api/v1/members/{member.id}/tier", headers=cashier).json()
    assert (shown["tier"]["code"], shown["paid"]) == ("gold", True)


# --- the plan's own benefit set -----------------------------------------------------------------


def benefit_plan(session: Session, template_id: int, term: str = "quarter", **more: Any) -> int:
    benefits = {
        "discount_percent": 5,
        "monthly_coupons": [{"template_id": template_id, "count": 2}],
    }
    values = {"name": "省钱卡", "term": term, "price": 1_900, "benefits": benefits} | more
    return paid.save_plan(session, SYSTEM, values).id


def coupon_refs(session: Session, member: Member) -> list[str]:
    query = select(Coupon.source_ref).where(Coupon.member_id == member.id).order_by(Coupon.id)
    return list(session.scalars(query))


def test_a_term_issues_each_begun_month_once(session: Session, tiers: dict[str, Tier]) -> None:
    """A quarter from 31 January: months begin 31 January, 28 February, 31 March (business
    time); a run issues every begun month not yet issued, and a second run nothing."""
    template = make_coupon_template(session)
    member = make_member(session)
    term = pay(session, member, benefit_plan(session, template.id))
    assert paid.issue_monthly_coupons(session, NOW) == paid.CouponReport(1, 1, 2)
    assert coupon_refs(session, member) == [f"paid:{term.id}:0"] * 2
    assert paid.issue_monthly_coupons(session, NOW) == paid.CouponReport(0, 0, 0)
    late = datetime(2026, 3, 31, 1, 0, tzinfo=UTC)  # 31 March 09:00 Shanghai: not yet the third
    assert paid.issue_monthly_coupons(session, late) == paid.CouponReport(1, 1, 2)
    assert paid.issue_monthly_coupons(session, datetime(2026, 3, 31, 2, 0, tzinfo=UTC)).months == 1
    assert coupon_refs(session, member) == [f"paid:{term.id}:{i}" for i in (0, 0, 1, 1, 2, 2)]
    assert session.get(PaidMembership, term.id).coupon_months == 3  # type: ignore[union-attr]
    coupons = session.scalars(select(Coupon).where(Coupon.member_id == member.id)).all()
    assert {c.source for c in coupons} == {"tier_benefit"}
    # the term is over: nothing more, however late
    assert paid.issue_monthly_coupons(session, datetime(2026, 9, 1, tzinfo=UTC)).coupons == 0


def test_the_daily_job_issues_the_months_before_the_term_lapses(
    session: Session, tiers: dict[str, Tier]
) -> None:
    """A job missed for the whole term: the run that lapses it still issues its months."""
    template = make_coupon_template(session)
    member = make_member(session)
    term = pay(session, member, benefit_plan(session, template.id))
    after = datetime(2026, 6, 1, tzinfo=UTC)
    clock.set_now(after)
    report = jobs.run(session, after)
    assert report.lapsed.terms == 1
    assert coupon_refs(session, member) == [f"paid:{term.id}:{i}" for i in (0, 0, 1, 1, 2, 2)]
    jobs.run(session, after)
    assert len(coupon_refs(session, member)) == 6


def test_a_renewal_starts_its_months_where_the_running_term_ends(
    session: Session, tiers: dict[str, Tier]
) -> None:
    template = make_coupon_template(session)
    member = make_member(session)
    plan_id = benefit_plan(session, template.id, "month")
    first, renewal = pay(session, member, plan_id), pay(session, member, plan_id)
    assert paid.issue_monthly_coupons(session, NOW).terms == 1  # the renewal has not begun
    assert paid.issue_monthly_coupons(session, renewal.starts_at).terms == 1
    assert coupon_refs(session, member) == [f"paid:{first.id}:0"] * 2 + [f"paid:{renewal.id}:0"] * 2


def test_a_coupon_that_cannot_go_out_is_left_out(session: Session, tiers: dict[str, Tier]) -> None:
    """A paused template: its month counts as issued, the plan's other coupons go out."""
    paused = make_coupon_template(session)
    kept = make_coupon_template(session)
    benefits = {
        "monthly_coupons": [
            {"template_id": paused.id, "count": 1},
            {"template_id": kept.id, "count": 1},
        ]
    }
    plan_id = paid.save_plan(
        session, SYSTEM, {"name": "券卡", "term": "month", "price": 900, "benefits": benefits}
    ).id
    paused.status = "paused"
    session.flush()
    member = make_member(session)
    pay(session, member, plan_id)
    assert paid.issue_monthly_coupons(session, NOW) == paid.CouponReport(1, 1, 1)
    assert paid.issue_monthly_coupons(session, NOW).months == 0


def test_a_live_plan_gives_its_discount_when_higher_than_the_tiers(
    session: Session, tiers: dict[str, Tier]
) -> None:
    ladder.save_tier(session, SYSTEM, {"discount_percent": 3}, tiers["silver"].id)
    ladder.save_tier(session, SYSTEM, {"discount_percent": 8}, tiers["gold"].id)
    store = make_store(session)
    member = make_member(session, store)
    assert benefits.member_discount(session, member.id, is_staff=False) is None
    plan_id = benefit_plan(session, make_coupon_template(session).id)
    pay(session, member, plan_id)
    found = benefits.member_discount(session, member.id, is_staff=False)
    assert found == benefits.Discount(5, tiers["normal"].id, benefits.DiscountSource.paid_plan)
    order(session, store, member, 1_200 * YUAN, NOW)  # silver: 3% < the plan's 5%
    assert benefits.member_discount(session, member.id, is_staff=False) == benefits.Discount(
        5, tiers["silver"].id, benefits.DiscountSource.paid_plan
    )
    assert benefits.member_discount(session, member.id, is_staff=True) is None
    order(session, store, member, 5_000 * YUAN, NOW)  # gold: its 8% is the higher
    assert benefits.member_discount(session, member.id, is_staff=False) == benefits.Discount(
        8, tiers["gold"].id, benefits.DiscountSource.tier
    )
    ladder.save_tier(session, SYSTEM, {"discount_percent": 0}, tiers["gold"].id)
    clock.set_now(datetime(2026, 5, 1, tzinfo=UTC))  # the quarter is over
    assert benefits.member_discount(session, member.id, is_staff=False) is None


@pytest.mark.parametrize(
    ("benefits_in", "field"),
    [
        ({"monthly_coupons": [{"template_id": 1, "count": 11}]}, "monthly_coupons.0.count"),
        ({"monthly_coupons": [{"template_id": 1, "count": 0}]}, "monthly_coupons.0.count"),
        ({"discount_percent": 100}, "discount_percent"),
        ({"monthly_coupons": [{"template_id": 999_999, "count": 1}]}, "template_id"),
    ],
)
def test_plan_benefits_are_checked_on_create_and_patch(
    client: TestClient,
    session: Session,
    settings: Settings,
    tiers: dict[str, Tier],
    benefits_in: dict[str, Any],
    field: str,
) -> None:
    marketing = staff_headers(make_staff(session, Role.hq_marketing), settings)
    template = make_coupon_template(session)
    for coupon in benefits_in.get("monthly_coupons", []):
        coupon["template_id"] = template.id if coupon["template_id"] == 1 else coupon["template_id"]
    body = {"name": "省钱卡", "term": "month", "price": 900, "benefits": benefits_in}
    refused = client.post("/api/v1/paid-plans", json=body, headers=marketing)
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["errors"][0]["field"]
    good = body | {"benefits": {"discount_percent": 5}}
    created = client.post("/api/v1/paid-plans", json=good, headers=marketing)
    assert created.status_code == 201, created.text
    url = f"/api/v1/paid-plans/{created.json()['id']}"
    patched = client.patch(url, json={"benefits": benefits_in}, headers=marketing)
    assert patched.status_code == 422, patched.text
    assert client.get(url, headers=marketing).json()["benefits"]["discount_percent"] == 5


def test_the_service_checks_plan_benefits_too(session: Session, tiers: dict[str, Tier]) -> None:
    template = make_coupon_template(session)
    for benefits_in, field in (
        ({"monthly_coupons": [{"template_id": template.id, "count": 11}]}, "count"),
        ({"discount_percent": 100}, "discount_percent"),
    ):
        with pytest.raises(InvalidInput) as refused:
            paid.save_plan(
                session,
                SYSTEM,
                {"name": "X", "term": "month", "price": 1, "benefits": benefits_in},
            )
        assert refused.value.extra["errors"][0]["code"] == "out_of_range"
        assert refused.value.extra["errors"][0]["field"].endswith(field)


def test_the_member_tier_shows_the_effective_discount(
    client: TestClient, session: Session, settings: Settings, tiers: dict[str, Tier]
) -> None:
    cashier = staff_headers(make_staff(session, Role.cashier), settings)
    member = make_member(session)
    url = f"/api/v1/members/{member.id}/tier"
    assert client.get(url, headers=cashier).json()["discount"] is None
    pay(session, member, benefit_plan(session, make_coupon_template(session).id))
    shown = client.get(url, headers=cashier).json()
    assert (shown["tier"]["code"], shown["paid"]) == ("normal", False)
    assert shown["discount"] == {"percent": 5, "source": "paid_plan"}


# --- a merge ------------------------------------------------------------------------------------


def history(session: Session, member: Member) -> list[tuple[str, str]]:
    codes = dict(session.execute(select(Tier.id, Tier.code)).all())
    rows = session.execute(
        select(TierChange.reason, TierChange.to_tier_id)
        .where(TierChange.member_id == member.id)
        .order_by(TierChange.id)
    )
    return [(reason, codes[to]) for reason, to in rows]


def test_a_merge_moves_paid_terms_and_the_survivor_holds_the_higher_paid_tier(
    session: Session, tiers: dict[str, Tier]
) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    order(session, store, target, 1_200 * YUAN, NOW)  # silver by growth
    yearly_gold = plan(session, tiers["gold"], "year")
    monthly_diamond = plan(session, tiers["diamond"], "month")
    pay(session, target, yearly_gold)
    moved = pay(session, source, monthly_diamond)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    session.expire_all()
    assert {m.member_id for m in session.scalars(select(PaidMembership))} == {target.id}
    assert tier_of(session, target) == "diamond"
    assert history(session, target)[-1] == ("merge", "diamond")
    found = standing.standings(session, [target.id, source.id])
    assert found[target.id].paid
    row = session.get(MemberTier, target.id)
    assert row is not None
    assert (row.paid_tier_id, row.paid_until) == (tiers["diamond"].id, moved.ends_at)
    gone = session.get(MemberTier, source.id)
    assert gone is not None
    assert (gone.paid_tier_id, gone.paid_until) == (None, None)
    # the diamond month lapses: the survivor's own gold year still holds
    clock.set_now(moved.ends_at)
    assert paid.lapse(session, moved.ends_at).changes == 1
    assert tier_of(session, target) == "gold"
    assert history(session, target)[-1] == ("paid_lapsed", "gold")


def test_a_merge_never_lowers_the_survivors_paid_tier(
    session: Session, tiers: dict[str, Tier]
) -> None:
    source, target = make_member(session), make_member(session)
    pay(session, target, plan(session, tiers["diamond"]))
    pay(session, source, plan(session, tiers["silver"], "year"))
    before = history(session, target)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    assert tier_of(session, target) == "diamond"
    assert history(session, target) == before
    assert len(paid.memberships_of(session, target.id)) == 2


def test_a_merged_members_benefit_terms_keep_their_issued_months(
    session: Session, tiers: dict[str, Tier]
) -> None:
    """A plan of its own benefits: the term moves with the months it issued (their coupons move
    with the coupons' own merge); the survivor gets the months still to come, once."""
    template = make_coupon_template(session)
    source, target = make_member(session), make_member(session)
    term = pay(session, source, benefit_plan(session, template.id))
    paid.issue_monthly_coupons(session, NOW)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    assert paid.issue_monthly_coupons(session, NOW).coupons == 0
    assert benefits.member_discount(session, target.id, is_staff=False) == benefits.Discount(
        5, tiers["normal"].id, benefits.DiscountSource.paid_plan
    )
    paid.issue_monthly_coupons(session, datetime(2026, 3, 1, tzinfo=UTC))
    assert coupon_refs(session, target) == [f"paid:{term.id}:{i}" for i in (0, 0, 1, 1)]


def test_a_merge_moves_paid_terms_with_tiers_off(session: Session) -> None:
    template = make_coupon_template(session)
    source, target = make_member(session), make_member(session)
    pay(session, source, benefit_plan(session, template.id))
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    assert [m.member_id for m in paid.memberships_of(session, target.id)] == [target.id]


def test_a_terms_months_are_its_own_whatever_the_plan_becomes(
    session: Session, tiers: dict[str, Tier]
) -> None:
    """A month's term paid before the plan became quarterly has one month of coupons."""
    template = make_coupon_template(session)
    member = make_member(session)
    plan_id = benefit_plan(session, template.id, "month")
    term = pay(session, member, plan_id)
    paid.save_plan(session, SYSTEM, {"term": "quarter"}, plan_id)
    assert paid.issue_monthly_coupons(session, datetime(2026, 2, 27, tzinfo=UTC)).months == 1
    assert coupon_refs(session, member) == [f"paid:{term.id}:0"] * 2
