"""The demo campaigns: 沉睡唤醒 launched five weeks ago on dormant members with its control group,
its coupons redeemed on the wake-up orders so that its report shows an uplift, and a draft; a
second load adds nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from patron.campaigns import report, service
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.demo import campaigns
from patron.profiles import service as profiles
from tests.factories import make_member, make_order, make_store


def test_the_demo_campaigns_load_with_a_measurable_wake_up(session: Session) -> None:
    store = make_store(session)
    now = clock.now()
    for n in range(120):
        member = make_member(session, store)
        make_order(
            session,
            store,
            member,
            external_id=f"OLD-{n}",
            occurred_at=(now - timedelta(days=250)).isoformat(),
        )
    profiles.refresh(session, now)

    assert campaigns.load(session, seed=7) == {campaigns.WAKE_UP: "done", campaigns.DRAFT: "draft"}
    wake_up, draft = sorted(service.all_campaigns(session), key=lambda c: c.id)
    assert wake_up.audience_size == 120
    assert wake_up.control_size
    assert wake_up.launched_at is not None
    assert wake_up.launched_at < now - timedelta(days=34)
    found = report.campaign_report(session, SYSTEM, wake_up.id)
    assert found.complete
    assert found.treated.members + found.control.members == 120
    assert found.treated.cost.coupons == found.treated.members
    assert 0 < found.treated.coupon_redemptions <= found.treated.converters
    assert found.uplift.conversion.absolute is not None
    assert found.uplift.conversion.absolute > 0
    assert draft.status == "draft"
    assert draft.launched_at is None

    assert campaigns.load(session, seed=7) == {campaigns.WAKE_UP: "done", campaigns.DRAFT: "draft"}
    assert len(service.all_campaigns(session)) == 2
