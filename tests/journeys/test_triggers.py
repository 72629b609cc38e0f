"""Triggers: the daily job's dated ones (birthday, dormant, points and coupons expiring, no
purchase since a coupon) enter each member once per occasion; a tier change enters by its
direction and tier."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.events import Event
from patron.journeys import jobs, triggers
from patron.journeys.models import JourneyEntry
from patron.points.models import LotStatus, PointsLot
from patron.profiles.models import MemberProfile
from patron.tiers import ladder, standing
from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged
from tests.factories import issue_coupon, make_coupon_template, make_member, make_order, make_store
from tests.journeys.helpers import NOW, entries, make_journey

EXIT = [{"key": "x", "type": "exit"}]


@pytest.fixture(autouse=True)
def _daytime() -> None:
    clock.set_now(NOW)


def _refs(session: Session, journey: object) -> list[tuple[int, str]]:
    return [(e.member_id, e.trigger_ref) for e in entries(session, journey)]  # type: ignore[arg-type]


def test_dated_triggers_enter_each_member_once_per_occasion(session: Session) -> None:
    store = make_store(session)
    # Birthday in two days (1 June today, business time).
    celebrating = make_member(session, store, birthday="1990-06-03")
    make_member(session, store, birthday="1990-06-04")
    birthday = make_journey(session, {"event": "birthday", "days_before": 2}, EXIT, name="生日")
    # Dormant: the last purchase 60 days ago, by the profiles.
    dormant = make_member(session, store)
    session.add(MemberProfile(member_id=dormant.id, last_purchase_at=NOW - timedelta(days=60)))
    asleep = make_journey(session, {"event": "dormant", "days": 60}, EXIT, name="沉睡")
    # Points expiring in 7 days.
    holder = make_member(session, store)
    session.add(
        PointsLot(
            member_id=holder.id,
            points=100,
            remaining=40,
            status=LotStatus.available.value,
            earned_at=NOW - timedelta(days=300),
            release_at=NOW - timedelta(days=300),
            expires_at=NOW + timedelta(days=7, hours=3),
        )
    )
    expiring_points = make_journey(
        session, {"event": "points_expiring", "days": 7}, EXIT, name="积分到期"
    )
    # A coupon ending in 2 days (valid 3 days from today).
    short = make_coupon_template(session, valid_days=3)
    coupon_holder = make_member(session, store)
    coupon = issue_coupon(session, short, coupon_holder)
    expiring_coupon = make_journey(
        session, {"event": "coupon_expiring", "days": 2}, EXIT, name="券到期"
    )
    # Coupons issued 7 days ago: one holder bought since, the other did not.
    given = make_coupon_template(session)
    clock.set_now(NOW - timedelta(days=7))
    bought, idle = make_member(session, store), make_member(session, store)
    issued = {m.id: issue_coupon(session, given, m) for m in (bought, idle)}
    clock.set_now(NOW - timedelta(days=3))
    make_order(session, store, bought, occurred_at=clock.now().isoformat())
    clock.set_now(NOW)
    nudge = make_journey(
        session,
        {"event": "no_purchase_after_coupon", "days": 7, "template_id": given.id},
        EXIT,
        name="领券未购",
    )

    assert jobs.enter_dated(session, NOW) == "5 members entered 5 journeys"
    assert jobs.enter_dated(session, NOW + timedelta(hours=1)) == "0 members entered 5 journeys"
    assert _refs(session, birthday) == [(celebrating.id, "birthday:2026")]
    assert _refs(session, asleep) == [(dormant.id, "dormant:2026-06-01")]
    assert _refs(session, expiring_points) == [(holder.id, "points:2026-06-08")]
    assert _refs(session, expiring_coupon) == [(coupon_holder.id, f"coupon:{coupon.id}")]
    assert _refs(session, nudge) == [(idle.id, f"coupon:{issued[idle.id].id}")]


def test_a_tier_change_enters_by_direction_and_tier(session: Session) -> None:
    ladder.save_tier(session, SYSTEM, {"code": "normal", "name": "普通", "rank": 0})
    ladder.save_tier(
        session, SYSTEM, {"code": "gold", "name": "金卡", "rank": 1, "entry_threshold": 5000}
    )
    up = make_journey(
        session, {"event": "member.tier_changed", "direction": "up"}, EXIT, name="升级"
    )
    to_normal = make_journey(
        session, {"event": "member.tier_changed", "to_tier": "normal"}, EXIT, name="回普通"
    )
    member = make_member(session)
    standing.set_tier(session, SYSTEM, member.id, "gold", "test")
    clock.set_now(NOW + timedelta(seconds=1))
    standing.set_tier(session, SYSTEM, member.id, "normal", "test")
    assert [ref.split(":")[1] for _, ref in _refs(session, up)] == ["gold"]
    assert [ref.split(":")[1] for _, ref in _refs(session, to_normal)] == ["normal"]


def _entered(session: Session) -> list[tuple[object, ...]]:
    session.expire_all()
    rows = session.execute(
        select(
            JourneyEntry.journey_id,
            JourneyEntry.version_id,
            JourneyEntry.member_id,
            JourneyEntry.trigger_ref,
            JourneyEntry.in_control,
            JourneyEntry.status,
            JourneyEntry.step_key,
            JourneyEntry.wake_at,
            JourneyEntry.entered_at,
        ).order_by(JourneyEntry.journey_id, JourneyEntry.member_id, JourneyEntry.trigger_ref)
    )
    return [tuple(row) for row in rows]


def test_many_tier_changes_at_once_enter_as_one_at_a_time_would(session: Session) -> None:
    """The batch form (the tier review's) enters exactly whom and how the per-event subscriber
    would, event after event: direction and tier, the entry limits, the control draw, a first
    wait, an entry already made, a member named twice."""
    make_journey(
        session,
        {"event": "member.tier_changed", "direction": "down"},
        [{"key": "w", "type": "wait", "days": 2}, *EXIT],
        name="降级",
        control_percent=50,
    )
    make_journey(session, {"event": "member.tier_changed", "to_tier": "gold"}, EXIT, name="金")
    make_journey(session, {"event": "member.tier_changed", "direction": "up"}, EXIT, name="升")
    make_journey(
        session,
        {"event": "member.tier_changed"},
        EXIT,
        name="每周",
        entry_limit="every_n_days",
        entry_days=7,
    )
    store = make_store(session)
    members = [make_member(session, store).id for _ in range(24)]
    # Entered `down` before: the once limit keeps them out.
    triggers.enter_one(
        session,
        triggers.running(session).plans["member.tier_changed"][0],
        members[0],
        "earlier",
        NOW - timedelta(days=30),
    )
    codes = [("diamond", 3, "gold", 2), ("gold", 2, "silver", 1), ("silver", 1, "gold", 2)]
    changes = [
        Event(
            MEMBER_TIER_CHANGED.name,
            str(m),
            TierChanged(m, *codes[i % 3][:2], *codes[i % 3][2:], "downgrade"),
            NOW,
        )
        for i, m in enumerate(members)
    ]
    again = changes[4]  # a member named twice (a second later: another trigger_ref)
    changes.append(Event(again.type, again.entity_id, again.payload, NOW + timedelta(seconds=1)))
    before = _entered(session)

    with session.begin_nested() as one_by_one:
        for change in changes:
            triggers._tier_changed(session, change)
        expected = _entered(session)
        one_by_one.rollback()
    assert _entered(session) == before
    triggers._tiers_changed(session, changes)
    assert _entered(session) == expected
    assert len(expected) > len(before) + len(members)  # several journeys entered
    assert {e[4] for e in expected} == {True, False}  # both sides of the draw
