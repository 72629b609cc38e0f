from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.errors import InvalidInput
from patron.core.settings import Settings
from patron.members.models import Member
from patron.tiers import paid, review, standing
from patron.tiers.models import PaidMembership, Tier, TierChange
from tests.factories import make_member, make_staff, make_store, staff_headers
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
