"""The treatment in batches: a crash mid-launch loses and duplicates nothing, a re-run resumes;
scheduled campaigns start with the minute job; the no-marketing flag in the message service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.campaigns import jobs, launch, report, service
from patron.campaigns.models import CampaignMember
from patron.campaigns.schemas import CampaignIn
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.coupons.models import Coupon, IssueSource
from patron.coupons.reports import source_figures
from patron.members import registration
from patron.members.schemas import MemberUpdate
from patron.messages import service as messages
from patron.messages.kinds import Channel
from patron.messages.models import Message
from patron.points.models import EntryKind, PointsEntry
from patron.segments.models import Segment
from tests.campaigns.conftest import DAYTIME, EVERYONE, actions, build


class Crash(Exception):
    pass


def _counts(session: Session, model: type, *where: object) -> Counter[int]:
    rows = session.execute(
        select(model.member_id, func.count()).where(*where).group_by(model.member_id)
    )
    return Counter({member_id: count for member_id, count in rows})


def test_a_crash_mid_launch_loses_and_duplicates_nothing(
    session: Session, sessions: Callable[[], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(session, count=30)
    data = {"name": "双11", "rule": EVERYONE, "actions": actions(world, 20)}
    campaign = service.create(session, SYSTEM, CampaignIn.model_validate(data))
    queued = jobs.treat
    monkeypatch.setattr(jobs, "treat", lambda campaign_id: None)  # the queue lost the task
    service.launch(session, SYSTEM, campaign.id)
    session.commit()
    monkeypatch.setattr(launch, "BATCH", 4)
    recorded = launch._record
    calls = 0

    def crash_on_the_third(*args: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # the third batch's coupons, messages and points are written: then a crash
            raise Crash()
        recorded(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(launch, "_record", crash_on_the_third)
    with pytest.raises(Crash):
        launch.run(campaign.id, sessions)
    source = f"campaign:{campaign.id}"
    frozen = list(
        session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign.id))
    )
    treated = sorted(m.member_id for m in frozen if not m.in_control)
    done = {m.member_id for m in frozen if m.treated_at is not None}
    assert done == set(treated[:8])  # two batches committed, the third rolled back whole
    assert set(_counts(session, Coupon, Coupon.source_ref == source)) == done - set(world.refusing)

    monkeypatch.setattr(launch, "_record", recorded)
    monkeypatch.setattr(jobs, "treat", queued)
    jobs.scheduled(session, clock.now())  # the minute job resumes the running campaign
    session.commit()
    session.refresh(campaign)
    assert campaign.status == "done"
    reached = set(treated) - set(world.refusing)
    assert _counts(session, Coupon, Coupon.source_ref == source) == Counter(reached)
    assert _counts(session, Message, Message.source == source) == Counter(reached)
    grants = _counts(session, PointsEntry, PointsEntry.kind == EntryKind.grant.value)
    assert grants == Counter(reached)
    outcomes = {
        (o.action_index, o.outcome): o.members for o in service.outcomes(session, campaign.id)
    }
    assert outcomes[(0, "done")] == len(reached)
    assert outcomes[(2, "done")] == len(reached)
    assert outcomes[(1, "done")] + outcomes[(1, "no_consent")] == len(reached)


def test_the_task_freezes_the_audience_once(
    session: Session, sessions: Callable[[], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(session, count=10)
    data = {"name": "冻结", "rule": EVERYONE, "actions": actions(world)}
    campaign = service.create(session, SYSTEM, CampaignIn.model_validate(data))
    queued = jobs.treat
    monkeypatch.setattr(jobs, "treat", lambda campaign_id: None)  # the queue lost the task
    launched = service.launch(session, SYSTEM, campaign.id)
    assert (launched.status, launched.audience_size) == ("running", None)
    session.commit()

    def frozen() -> int:
        where = CampaignMember.campaign_id == campaign.id
        return int(session.scalar(select(func.count()).where(where)) or 0)

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash()

    assert frozen() == 0
    with monkeypatch.context() as patched:  # a crash inside the freeze: nothing of it stays
        patched.setattr(launch.audit, "record", crash)
        with pytest.raises(Crash):
            launch.run(campaign.id, sessions)
    session.refresh(campaign)
    assert (frozen(), campaign.audience_size) == (0, None)
    with monkeypatch.context() as patched:  # a crash after the freeze committed
        patched.setattr(launch, "treat_batch", crash)
        with pytest.raises(Crash):
            launch.run(campaign.id, sessions)
    session.refresh(campaign)
    assert (frozen(), campaign.audience_size, campaign.status) == (10, 10, "running")
    monkeypatch.setattr(jobs, "treat", queued)
    jobs.scheduled(session, clock.now())  # the minute job resumes: treated, not frozen again
    session.commit()
    session.refresh(campaign)
    assert (frozen(), campaign.audience_size, campaign.status) == (10, 10, "done")
    started = session.scalar(select(func.count()).where(AuditEntry.action == "campaign.start"))
    assert started == 1


def test_a_scheduled_campaign_starts_when_due(session: Session) -> None:
    world = build(session, count=5)
    later = DAYTIME + timedelta(hours=2)
    data = {"name": "晚场", "rule": EVERYONE, "actions": actions(world), "schedule_at": later}
    campaign = service.create(session, SYSTEM, CampaignIn.model_validate(data))
    service.launch(session, SYSTEM, campaign.id)
    assert campaign.status == "scheduled"
    assert campaign.audience_size is None
    assert jobs.scheduled(session, DAYTIME + timedelta(hours=1)) == "0 started, 0 running"
    with clock.frozen(later):
        assert jobs.scheduled(session, later) == "1 started, 1 running"
        session.commit()
    session.refresh(campaign)
    assert (campaign.status, campaign.audience_size, campaign.launched_at) == ("done", 5, later)
    started = session.scalar(select(func.count()).where(AuditEntry.action == "campaign.start"))
    assert started == 1


def test_the_message_service_skips_marketing_to_a_member_who_refuses_it(session: Session) -> None:
    world = build(session, count=3)
    member = world.members[1]  # refuses marketing, SMS consent given
    sent = messages.send(
        session, channel=Channel.sms, template_code="promo", member_id=member.id, source="t"
    )
    assert (sent.status, sent.reason) == ("skipped", "no_marketing")
    registration.update_member(session, SYSTEM, member.id, MemberUpdate(no_marketing=False))
    again = messages.send(
        session, channel=Channel.sms, template_code="promo", member_id=member.id, source="t"
    )
    assert again.status == "queued"
    flags = session.scalars(
        select(AuditEntry.after)
        .where(AuditEntry.action == "member.update", AuditEntry.entity_id == str(member.id))
        .order_by(AuditEntry.id)
    ).all()
    assert [f["no_marketing"] for f in flags] == [True, False]
    assert not session.scalar(select(Message.id).where(Message.body.contains("None")))


def test_a_scheduled_campaign_whose_segment_no_longer_parses_is_cancelled(
    session: Session,
) -> None:
    world = build(session, count=3)
    segment = Segment(name="全部", rule=EVERYONE, created_by="t")
    session.add(segment)
    session.flush()
    later = DAYTIME + timedelta(hours=1)
    data = {"name": "晚场", "segment_id": segment.id, "actions": actions(world)}
    campaign = service.create(
        session, SYSTEM, CampaignIn.model_validate(data | {"schedule_at": later})
    )
    service.launch(session, SYSTEM, campaign.id)
    segment.rule = "frequency >"  # saved before the parser grew stricter, say
    session.flush()
    with clock.frozen(later):
        jobs.scheduled(session, later)
        session.commit()  # the task freezes: the rule does not parse
    session.refresh(campaign)
    assert (campaign.status, campaign.audience_size) == ("cancelled", None)
    assert not session.scalar(select(func.count()).where(CampaignMember.campaign_id == campaign.id))


def test_at_night_the_messages_wait_for_the_quiet_hours_end(session: Session) -> None:
    world = build(session, count=8)
    night = DAYTIME + timedelta(hours=12)  # 22:00 in Shanghai
    data = {"name": "夜场", "rule": EVERYONE, "actions": actions(world)}
    data |= {"control_percent": 0, "control_reason": "全员"}
    with clock.frozen(night):
        campaign = service.create(session, SYSTEM, CampaignIn.model_validate(data))
        service.launch(session, SYSTEM, campaign.id)
        session.commit()
    written = session.scalars(
        select(Message).where(Message.source == f"campaign:{campaign.id}")
    ).all()
    deferred = [m for m in written if m.status == "deferred"]
    assert len(deferred) == len(set(world.consenting) - set(world.refusing))
    morning = DAYTIME + timedelta(hours=23)  # 09:00 the next day in Shanghai
    assert {m.send_after for m in deferred} == {morning}
    done = {(o.action_index, o.outcome): o.units for o in service.outcomes(session, campaign.id)}
    assert done[(1, "done")] == len(deferred)


def test_the_report_finds_the_coupons_by_the_reference_the_launch_writes(
    session: Session,
) -> None:
    world = build(session, count=8)
    data = {"name": "引用", "rule": EVERYONE, "actions": actions(world)}
    campaign = service.create(session, SYSTEM, CampaignIn.model_validate(data))
    service.launch(session, SYSTEM, campaign.id)
    session.commit()  # the treatment task (immediate here) runs after the commit
    assert launch.reference(campaign.id) == f"campaign:{campaign.id}"  # the stored format
    written = _counts(session, Coupon, Coupon.source_ref == launch.reference(campaign.id))
    treated = session.scalars(
        select(CampaignMember.member_id).where(
            CampaignMember.campaign_id == campaign.id, CampaignMember.in_control.is_(False)
        )
    )
    reached = set(treated) - set(world.refusing)
    assert written == Counter(reached)
    issued = source_figures(session, IssueSource.campaign, launch.reference(campaign.id))
    found = report.campaign_report(session, SYSTEM, campaign.id)
    assert issued.issued == found.treated.cost.coupons == len(reached)
