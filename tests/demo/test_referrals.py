"""Demo referrals over a small roster: some rewarded, one pending newcomer, one self-referral
rejected for the referrer's own card; loading twice adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.demo import referrals as demo_referrals
from patron.referrals.models import Referral
from tests.factories import make_member, make_order, make_store

NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)


def test_the_demo_referrals(session: Session) -> None:
    store = make_store(session)
    with clock.frozen(NOW - timedelta(days=500)):
        for _ in range(8):
            make_member(session, store)
    with clock.frozen(NOW - timedelta(days=30)):
        recent = [make_member(session, store) for _ in range(8)]
    with clock.frozen(NOW - timedelta(days=10)):
        for member in recent[:5]:
            make_order(session, store, member, occurred_at=clock.now().isoformat())
    with clock.frozen(NOW):
        counted = demo_referrals.load(session)
        assert demo_referrals.load(session) == {}
    assert counted["rewarded"] >= 1
    assert counted["pending"] >= 1
    assert counted["rejected"] == 1
    rejected = session.scalars(select(Referral).where(Referral.status == "rejected")).one()
    assert rejected.reason == "same_payment"
