"""The demo tiers over a small history through the services: the four-tier ladder, growth that
equals the ledger, upgrades dated when they were earned, and every member at or above the tier
their qualifying growth earns (downgrades only at reviews)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.coupons.models import Coupon
from patron.demo import tiers as demo_tiers
from patron.tiers import growth, ladder, paid, standing
from patron.tiers.models import GrowthEntry, MemberTier, PaidMembership, PaidPlan, TierChange
from tests.factories import make_coupon_template, make_member, make_store
from tests.tiers.helpers import order

NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def test_the_demo_ladder_replays_the_history(session: Session) -> None:
    store = make_store(session)
    steady, early, light = (make_member(session, store) for _ in range(3))
    for month in range(20):  # ¥1,000 a month for 20 months: diamond by now
        order(session, store, steady, 100_000, NOW - timedelta(days=30 * month + 3))
    order(session, store, early, 600_000, NOW - timedelta(days=500))  # gold once, long ago
    order(session, store, light, 50_000, NOW - timedelta(days=40))

    report = demo_tiers.load(session)

    assert [(r.name, r.name_en) for r in ladder.ladder(session)] == [
        ("普通", "Basic"),
        ("银卡", "Silver"),
        ("金卡", "Gold"),
        ("钻石", "Diamond"),
    ]
    assert report.growth == 20 * 1000 + 6000 + 500
    # The early buyer, gold long ago, is one step down at the review a year after.
    assert report.members == {"普通": 1, "银卡": 1, "金卡": 0, "钻石": 1}
    assert report.downgrades == 1
    for member in (steady, early, light):
        row = session.get(MemberTier, member.id)
        assert row is not None
        assert row.growth == session.scalar(
            select(func.sum(GrowthEntry.growth)).where(GrowthEntry.member_id == member.id)
        )
    held = standing.tiers_of(session, [steady.id, early.id, light.id])
    assert (held[steady.id].code, held[early.id].code, held[light.id].code) == (
        "diamond",
        "silver",
        "normal",
    )
    # The early buyer went up when the order was made (the step after it), not today.
    upgrade = session.scalars(
        select(TierChange).where(TierChange.member_id == early.id, TierChange.reason == "upgrade")
    ).one()
    assert NOW - timedelta(days=500) <= upgrade.created_at <= NOW - timedelta(days=460)
    # The steady buyer climbed step by step, on the way up through silver and gold.
    climbed = session.scalars(
        select(TierChange.to_tier_id).where(TierChange.member_id == steady.id)
    ).all()
    assert len(climbed) == 3
    # Nobody holds less than their qualifying growth earns.
    rungs = ladder.ladder(session)
    for member in (steady, early, light):
        earned = ladder.earned(
            rungs, growth.qualifying_growth(session, member.id, "rolling_12m", NOW)
        )
        assert earned is not None
        assert held[member.id].rank >= earned.rank


def test_the_demo_has_paid_members_some_renewed_some_lapsed(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(session)
    members = [make_member(session, store) for _ in range(4)]
    for member in members:
        order(session, store, member, 10_000, NOW - timedelta(days=40))
    monkeypatch.setattr(demo_tiers, "PAID_EVERY", 1)  # every member buys, every other renews

    demo_tiers.load(session)

    terms = session.execute(
        select(PaidMembership.member_id, PaidMembership.status).order_by(PaidMembership.id)
    ).all()
    renewed = {m.id for m in members if m.id % 2 == 0}
    assert sorted(m for m, _ in terms) == sorted([m.id for m in members] + list(renewed))
    held = standing.tiers_of(session, [m.id for m in members])
    for member in members:
        assert held[member.id].code == ("gold" if member.id in renewed else "normal")


def test_the_demo_plan_gives_a_shipping_coupon_a_month(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the demo's shipping template the plan issues one a month of each paid term, each
    month once, through the monthly coupons job."""
    with clock.frozen(NOW - timedelta(days=400)):
        shipping = make_coupon_template(
            session, type="shipping", threshold=0, amount=800, valid_days=60
        ).id
    store = make_store(session)
    member_ids = [make_member(session, store).id for _ in range(2)]
    monkeypatch.setattr(demo_tiers, "PAID_EVERY", 1)

    demo_tiers.load(session)

    plan = session.scalars(select(PaidPlan)).one()
    assert plan.benefits == {"monthly_coupons": [{"template_id": shipping, "count": 1}]}
    for member_id in member_ids:
        refs = session.scalars(select(Coupon.source_ref).where(Coupon.member_id == member_id)).all()
        first = min(paid.memberships_of(session, member_id), key=lambda m: m.starts_at)
        assert {f"paid:{first.id}:{i}" for i in range(3)} <= set(refs)
        assert len(refs) == len(set(refs))
