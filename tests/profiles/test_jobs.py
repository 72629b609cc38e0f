from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron import domains
from patron.profiles import jobs
from patron.profiles.models import MemberProfile
from patron.schedule import registry
from tests.factories import make_member, make_order, make_store

SH = ZoneInfo("Asia/Shanghai")


def test_registered_nightly_and_every_five_minutes() -> None:
    domains.load()
    refresh, facts = registry.JOBS["profiles.refresh"], registry.JOBS["profiles.facts"]
    assert refresh.cadence.due(datetime(2026, 3, 1, 2, 0, tzinfo=SH))
    assert not refresh.cadence.due(datetime(2026, 3, 1, 3, 0, tzinfo=SH))
    assert [m for m in range(60) if facts.cadence.due(datetime(2026, 3, 1, 9, m, tzinfo=SH))] == [
        *range(0, 60, 5)
    ]
    assert registry.EVERY_MINUTE.due(datetime(2026, 3, 1, 9, 7, tzinfo=SH))


def test_the_jobs_refresh_then_fold_new_orders(session: Session) -> None:
    store = make_store(session)
    member = make_member(session)
    make_order(session, store, member, occurred_at="2026-02-01T10:00:00+08:00")
    now = datetime(2026, 3, 1, 2, tzinfo=SH)
    summary = jobs.refresh(session, now)
    assert "1 buyers" in summary
    assert "profiles" in summary
    make_order(session, store, member, occurred_at="2026-02-28T10:00:00+08:00")
    assert jobs.facts(session, now) == "1 members' facts updated"
    # Again: the margin below the watermark reads the same order, and changes nothing.
    assert jobs.facts(session, now) == "1 members' facts updated"
    profile = session.scalars(
        select(MemberProfile).where(MemberProfile.member_id == member.id)
    ).one()
    session.refresh(profile)
    assert profile.orders_lifetime == 2
