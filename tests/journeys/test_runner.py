"""Journeys walked by the runner: triggers enter members once, waits, conditions, branches and
each action, the control group, the goal, versions, and a run that dies resuming without doing
anything twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock, events
from patron.core.actor import SYSTEM
from patron.core.events import OutboxEvent
from patron.coupons.models import Coupon
from patron.journeys import runner, service, triggers
from patron.journeys.errors import JourneyNotFound
from patron.journeys.models import Journey, JourneyEntry
from patron.journeys.schemas import JourneyPatch
from patron.members import merge, privacy
from patron.members.events import MEMBER_REGISTERED, MemberRegistered
from patron.members.models import Member
from patron.messages import channels
from patron.messages.kinds import Channel
from patron.messages.models import Message, MessageTemplate
from patron.points.models import EntryKind, PointsEntry
from patron.schedule import runner as schedule_runner
from patron.schedule.errors import JobFailed
from patron.tags import service as tags
from patron.tags.models import MemberTag
from patron.tags.schemas import TagCreate
from tests.factories import make_coupon_template, make_member, make_order, make_store
from tests.journeys.helpers import NOW, entries, make_journey, trail
from tests.orders.test_statement_budget import Statements, statements

__all__ = ["statements"]

REGISTERED = {"event": "member.registered"}


@pytest.fixture(autouse=True)
def _daytime() -> None:
    clock.set_now(NOW)


def _tag(session: Session, name: str) -> int:
    return tags.create_tag(session, SYSTEM, TagCreate(name=name)).id


def _coupons(session: Session, member_id: int) -> int:
    query = select(func.count()).where(Coupon.member_id == member_id)
    return int(session.scalar(query.select_from(Coupon)) or 0)


def _points(session: Session, member_id: int) -> int:
    query = select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
        PointsEntry.member_id == member_id, PointsEntry.kind == EntryKind.grant.value
    )
    return int(session.scalar(query) or 0)


def test_a_registration_enters_each_member_once(session: Session) -> None:
    journey = make_journey(session, REGISTERED, [{"key": "hi", "type": "exit"}], control_percent=0)
    member = make_member(session)
    payload = MemberRegistered(member.id, None, "store", "api", None, None, clock.now())
    events.publish(session, MEMBER_REGISTERED, member.id, payload)  # the trigger again
    found = entries(session, journey)
    assert [(e.member_id, e.trigger_ref, e.step_key) for e in found] == [
        (member.id, "registered", "hi")
    ]


def test_a_draft_or_paused_journey_enters_nobody(session: Session) -> None:
    draft = make_journey(session, REGISTERED, [{"key": "x", "type": "exit"}], active=False)
    paused = make_journey(session, REGISTERED, [{"key": "x", "type": "exit"}], name="暂停")
    service.move(session, SYSTEM, paused.id, "pause")
    make_member(session)
    assert entries(session, draft) == entries(session, paused) == []


def test_waits_branches_and_actions(session: Session) -> None:
    vip = _tag(session, "vip")
    _tag(session, "已触达")
    template = make_coupon_template(session)
    steps = [
        {"key": "w", "type": "wait", "days": 1},
        {"key": "b", "type": "branch", "rule": 'tag("vip")', "yes": "c", "no": "p"},
        {
            "key": "c",
            "type": "action",
            "action": "issue_coupon",
            "template_id": template.id,
            "next": "t",
        },
        {
            "key": "p",
            "type": "action",
            "action": "grant_points",
            "points": 100,
            "reason": "旅程积分",
        },
        {"key": "t", "type": "action", "action": "tag_add", "tag": "已触达"},
        {"key": "hook", "type": "action", "action": "webhook", "data": {"offer": "A"}},
        {"key": "e", "type": "exit"},
        {"key": "never", "type": "action", "action": "tag_remove", "tag": "vip"},
    ]
    journey = make_journey(session, REGISTERED, steps, control_percent=0)
    loyal, other = make_member(session), make_member(session)
    tags.tag_member(session, SYSTEM, loyal.id, tags.get_tag(session, vip))

    assert runner.advance(session, clock.now()).entries == 0  # both wait a day
    assert {e.step_key for e in entries(session, journey)} == {"w"}
    done = runner.advance(session, clock.now() + timedelta(days=1))
    assert (done.entries, done.ended) == (2, 2)

    first, second = entries(session, journey)
    assert trail(session, first) == [
        ("w", "done"),
        ("b", "yes"),
        ("c", "done"),
        ("t", "done"),
        ("hook", "done"),
        ("e", "done"),
    ]
    assert trail(session, second) == [
        ("w", "done"),
        ("b", "no"),
        ("p", "done"),
        ("t", "done"),
        ("hook", "done"),
        ("e", "done"),
    ]
    assert [(e.status, e.step_key, e.wake_at) for e in (first, second)] == [
        ("done", None, None)
    ] * 2
    assert (_coupons(session, loyal.id), _points(session, loyal.id)) == (1, 0)
    assert (_coupons(session, other.id), _points(session, other.id)) == (0, 100)
    reached = session.scalars(select(MemberTag.member_id).where(MemberTag.tag_id != vip)).all()
    assert sorted(reached) == sorted([loyal.id, other.id])
    hooks = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "journey.action")).all()
    assert sorted(h.payload["member_id"] for h in hooks) == sorted([loyal.id, other.id])
    assert hooks[0].payload["data"] == {"offer": "A"}

    flow = service.flow(session, journey.id)
    counts = {s.key: (s.waiting, s.outcomes) for s in flow.steps}
    assert counts["b"] == (0, {"yes": 1, "no": 1})
    assert counts["never"] == (0, {})
    assert flow.entries["done"] == 2


def test_a_condition_that_does_not_hold_ends_the_journey(session: Session) -> None:
    steps = [
        {"key": "only", "type": "condition", "rule": "frequency >= 1"},
        {"key": "x", "type": "action", "action": "grant_points", "points": 5, "reason": "r"},
    ]
    journey = make_journey(session, REGISTERED, steps, control_percent=0)
    member = make_member(session)
    runner.advance(session, clock.now())
    (entry,) = entries(session, journey)
    assert (entry.status, trail(session, entry)) == ("done", [("only", "no")])
    assert _points(session, member.id) == 0


def test_a_wait_until_an_hour_wakes_at_that_hour(session: Session) -> None:
    steps = [{"key": "w", "type": "wait", "until_hour": 20}, {"key": "x", "type": "exit"}]
    journey = make_journey(session, REGISTERED, steps)
    make_member(session)
    (entry,) = entries(session, journey)
    assert entry.wake_at is not None
    local = entry.wake_at.astimezone(clock.business_tz())
    assert (local.date(), local.hour, local.minute) == (NOW.date(), 20, 0)
    runner.advance(session, NOW + timedelta(hours=9, minutes=59))
    assert entries(session, journey)[0].status == "active"
    runner.advance(session, NOW + timedelta(hours=10))
    assert entries(session, journey)[0].status == "done"


def test_the_control_draw_is_seeded_and_control_members_get_nothing(session: Session) -> None:
    steps = [{"key": "p", "type": "action", "action": "grant_points", "points": 10, "reason": "r"}]
    journey = make_journey(session, REGISTERED, steps, control_percent=50)
    members = [make_member(session) for _ in range(40)]
    runner.advance(session, clock.now())
    found = entries(session, journey)
    seed = service.current_version(session, journey).seed
    assert [e.in_control for e in found] == [triggers.in_control(seed, m.id, 50) for m in members]
    control = [e for e in found if e.in_control]
    assert 5 < len(control) < 35
    for entry in found:
        expected = "control" if entry.in_control else "done"
        assert trail(session, entry) == [("p", expected)]
        assert _points(session, entry.member_id) == (0 if entry.in_control else 10)
    assert not any(triggers.in_control(seed, m.id, 0) for m in members)


def test_a_purchase_reaches_the_goal(session: Session) -> None:
    steps = [
        {"key": "w", "type": "wait", "days": 3},
        {"key": "p", "type": "action", "action": "grant_points", "points": 10, "reason": "r"},
    ]
    goal = {"type": "purchase", "days": 14}
    journey = make_journey(session, REGISTERED, steps, goal=goal, control_percent=0)
    store = make_store(session)
    buyer, idle = make_member(session, store), make_member(session, store)
    clock.set_now(NOW + timedelta(days=1))
    make_order(session, store, buyer)
    converted, waiting = entries(session, journey)
    assert (converted.status, converted.step_key) == ("converted", None)
    assert (waiting.status, waiting.step_key) == ("active", "w")
    runner.advance(session, NOW + timedelta(days=3))
    assert _points(session, buyer.id) == 0 < _points(session, idle.id)


def test_an_order_trigger_and_a_first_purchase(session: Session) -> None:
    exit_only = [{"key": "x", "type": "exit"}]
    every = make_journey(
        session,
        {"event": "order.completed", "min_total": 10000},
        exit_only,
        name="每单",
        entry_limit="every_n_days",
        entry_days=1,
    )
    first = make_journey(session, {"event": "first_purchase"}, exit_only, name="首单")
    store = make_store(session)
    member = make_member(session, store)
    make_order(session, store, member)
    make_order(session, store, member)  # the same day: every_n_days keeps it out
    clock.set_now(NOW + timedelta(days=2))
    make_order(session, store, member)
    small = make_order(
        session,
        store,
        member,
        items=[{"sku": "S", "name": "小", "quantity": 1, "unit_price": 100, "paid": 100}],
        payments=[{"method": "cash", "amount": 100}],
    )
    assert small.total == 100
    assert len(entries(session, every)) == 2
    assert [e.trigger_ref for e in entries(session, first)] == ["first_purchase"]


def test_a_changed_definition_is_a_new_version_members_inside_finish_theirs(
    session: Session,
) -> None:
    v1 = [
        {"key": "w", "type": "wait", "days": 1},
        {"key": "p", "type": "action", "action": "grant_points", "points": 10, "reason": "v1"},
    ]
    journey = make_journey(session, REGISTERED, v1, control_percent=0)
    early = make_member(session)
    v2 = [{"key": "p", "type": "action", "action": "grant_points", "points": 20, "reason": "v2"}]
    service.update(session, SYSTEM, journey.id, JourneyPatch.model_validate({"steps": v2}))
    assert journey.current_version == 2
    late = make_member(session)
    runner.advance(session, NOW + timedelta(days=1))
    assert (_points(session, early.id), _points(session, late.id)) == (10, 20)
    versions = [e.version_id for e in entries(session, journey)]
    assert versions[0] != versions[1]
    # A journey nobody entered yet is changed in place.
    fresh = make_journey(session, {"event": "first_purchase"}, v1, name="新", active=False)
    service.update(session, SYSTEM, fresh.id, JourneyPatch.model_validate({"steps": v2}))
    assert fresh.current_version == 1
    assert service.current_version(session, fresh).steps[0]["points"] == 20


def test_a_run_that_dies_resumes_and_does_nothing_twice(
    session: Session, sessions: Callable[[], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = [
        {"key": "p", "type": "action", "action": "grant_points", "points": 10, "reason": "r"},
        {"key": "w", "type": "wait", "hours": 1},
        {"key": "q", "type": "action", "action": "grant_points", "points": 1, "reason": "r"},
    ]
    journey = make_journey(session, REGISTERED, steps, control_percent=0)
    members = [make_member(session) for _ in range(5)]
    session.commit()
    real = runner.MANY["grant_points"]

    def dies_after_granting(batch: Any, walks: Any, step: Any) -> dict[Any, str]:
        real(batch, walks, step)
        raise RuntimeError("worker killed")

    monkeypatch.setitem(runner.MANY, "grant_points", dies_after_granting)
    with pytest.raises(JobFailed):
        schedule_runner.run_job("journeys.advance", NOW, sessions=sessions)
    assert sum(_points(session, m.id) for m in members) == 0
    assert {e.step_key for e in entries(session, journey)} == {"p"}
    monkeypatch.setitem(runner.MANY, "grant_points", real)
    schedule_runner.run_job("journeys.advance", NOW, sessions=sessions)
    assert [_points(session, m.id) for m in members] == [10] * 5
    assert {e.step_key for e in entries(session, journey)} == {"w"}
    schedule_runner.run_job("journeys.advance", NOW + timedelta(minutes=59), sessions=sessions)
    schedule_runner.run_job("journeys.advance", NOW + timedelta(hours=1), sessions=sessions)
    schedule_runner.run_job("journeys.advance", NOW + timedelta(hours=2), sessions=sessions)
    assert [_points(session, m.id) for m in members] == [11] * 5
    assert [len(trail(session, e)) for e in entries(session, journey)] == [3] * 5


def test_a_member_who_wants_no_marketing_gets_no_action(session: Session) -> None:
    steps = [{"key": "p", "type": "action", "action": "grant_points", "points": 10, "reason": "r"}]
    journey = make_journey(session, REGISTERED, steps, control_percent=0)
    quiet, other = make_member(session), make_member(session)
    quiet.no_marketing = True
    session.flush()
    runner.advance(session, clock.now())
    first, second = entries(session, journey)
    assert trail(session, first) == [("p", "skipped:no_marketing")]
    assert trail(session, second) == [("p", "done")]
    assert (_points(session, quiet.id), _points(session, other.id)) == (0, 10)


def test_points_and_messages_go_in_bulk_by_the_message_rules(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels.put(session, SYSTEM, Channel.sms, "log", True, {})
    session.add(MessageTemplate(code="hi", channel="sms", purpose="marketing", body="{{ name }}"))
    steps = [
        {"key": "p", "type": "action", "action": "grant_points", "points": 10, "reason": "r"},
        {
            "key": "m",
            "type": "action",
            "action": "send_message",
            "channel": "sms",
            "template": "hi",
        },
    ]
    journey = make_journey(session, REGISTERED, steps, control_percent=0)
    willing, unwilling = make_member(session, consents={"sms": True}), make_member(session)
    first = entries(session, journey)[0]
    session.add(  # the same member in the journey again, by another occasion
        JourneyEntry(
            journey_id=journey.id,
            version_id=first.version_id,
            member_id=willing.id,
            trigger_ref="again",
            in_control=False,
            step_key="p",
            wake_at=first.wake_at,
            entered_at=first.entered_at,
        )
    )
    session.flush()
    monkeypatch.setitem(runner.ONE, "grant_points", None)  # not one at a time
    monkeypatch.setitem(runner.ONE, "send_message", None)
    runner.advance(session, clock.now())
    trails = [(e.member_id, trail(session, e)) for e in entries(session, journey)]
    assert trails == [
        (willing.id, [("p", "done"), ("m", "queued")]),
        (unwilling.id, [("p", "done"), ("m", "skipped:no_consent")]),
        (willing.id, [("p", "done"), ("m", "queued")]),
    ]
    assert (_points(session, willing.id), _points(session, unwilling.id)) == (20, 10)
    sent = select(func.count()).where(Message.member_id == willing.id, Message.status == "queued")
    assert session.scalar(sent.select_from(Message)) == 2


def test_a_transactional_message_goes_one_at_a_time_without_consent(session: Session) -> None:
    channels.put(session, SYSTEM, Channel.sms, "log", True, {})
    session.add(MessageTemplate(code="bill", channel="sms", purpose="transactional", body="账单"))
    message = {"action": "send_message", "channel": "sms", "template": "bill"}
    steps = [{"key": "m", "type": "action", **message}]
    journey = make_journey(session, REGISTERED, steps, control_percent=0)
    member = make_member(session)  # no SMS consent
    runner.advance(session, clock.now())
    assert trail(session, entries(session, journey)[0]) == [("m", "queued")]
    sent = session.scalars(select(Message).where(Message.member_id == member.id)).one()
    assert (sent.purpose, sent.body) == ("transactional", "账单")


def test_a_member_merged_away_or_erased_leaves(session: Session) -> None:
    steps = [{"key": "w", "type": "wait", "days": 1}, {"key": "x", "type": "exit"}]
    journey = make_journey(session, REGISTERED, steps)
    source, target, erased = make_member(session), make_member(session), make_member(session)
    merge.merge_members(session, SYSTEM, source.id, target.id)
    privacy.erase_member(session, SYSTEM, erased.id, "asked")
    assert [e.status for e in entries(session, journey)] == ["exited", "active", "exited"]


def test_the_report_compares_treated_and_control(session: Session) -> None:
    from patron.journeys import report

    steps = [{"key": "x", "type": "exit"}]
    journey = make_journey(session, REGISTERED, steps, control_percent=50)
    store = make_store(session)
    for _ in range(30):
        make_member(session, store)
    clock.set_now(NOW + timedelta(days=1))
    treated = [e for e in entries(session, journey) if not e.in_control]
    for entry in treated:  # every treated member buys, no control member does
        member = session.get_one(Member, entry.member_id)
        make_order(session, store, member, occurred_at=clock.now().isoformat())
    found = report.report(session, journey.id)
    assert found.treated.members == found.treated.converters == len(treated)
    assert (found.control.members, found.control.converters) == (30 - len(treated), 0)
    assert found.uplift is not None
    assert found.uplift["conversion"]["absolute"] == pytest.approx(1.0)
    assert found.uplift["incremental_revenue"] == 12000 * len(treated)


def test_entries_of_many_journeys_count_in_one_query_and_old_versions_read_back(
    session: Session, statements: Statements
) -> None:
    v1 = [{"key": "w", "type": "wait", "days": 1}, {"key": "x", "type": "exit"}]
    first = make_journey(session, REGISTERED, v1, control_percent=0)
    second = make_journey(session, REGISTERED, [{"key": "x", "type": "exit"}], name="二")
    empty = make_journey(session, {"event": "first_purchase"}, v1, name="空")
    make_member(session)
    service.update(session, SYSTEM, first.id, JourneyPatch.model_validate({"steps": v1[1:]}))
    make_member(session)
    entries(session, first)[0].status = "converted"
    session.flush()
    ids = [first.id, second.id, empty.id]
    before = len(statements.seen)
    totals = service.entry_totals(session, ids)
    assert len(statements.seen) - before == 1
    assert (totals[first.id]["converted"], sum(totals[first.id].values())) == (1, 2)
    assert sum(totals[second.id].values()) == 2
    assert totals[empty.id] == {"active": 0, "converted": 0, "done": 0, "exited": 0}
    versions = service.current_versions(session, [session.get_one(Journey, i) for i in ids])
    assert [versions[i].version for i in ids] == [2, 1, 1]
    assert [s["key"] for s in service.get_version(session, first.id, 1).steps] == ["w", "x"]
    with pytest.raises(JourneyNotFound):
        service.get_version(session, first.id, 3)
