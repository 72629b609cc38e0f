"""Concurrent launches of one campaign on PostgreSQL: two launches through the API at once, and
several runners of its queued treatment at once (the launch's task, the minute job's resume, a
retry), each on its own connection. Whatever the interleaving: the audience is frozen once, each
treated member gets one coupon, one points grant and one message, the budgets hold, and the
campaign ends `done`."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.campaigns import jobs, launch, service
from patron.campaigns.models import Campaign, CampaignMember, CampaignOutcome
from patron.campaigns.schemas import CampaignIn
from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.coupons.models import Coupon
from patron.messages.kinds import Status
from patron.messages.models import Message
from patron.points.models import EntryKind, PointsEntry
from tests.campaigns.conftest import World, actions, build
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member

DAYTIME = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: no quiet hours
EVERYONE = "registered_days >= 0"
POINTS = 20


@pytest.fixture
def factory(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> sessionmaker[Session]:
    """The race database as the process's own: the queue (immediate here) runs a launch's task
    and the message deliveries on it, each in a connection of its own."""
    made = sessionmaker(pg_engine, expire_on_commit=False)
    monkeypatch.setattr(db, "_engine", pg_engine)
    monkeypatch.setattr(db, "_session_factory", made)
    monkeypatch.setattr(launch, "BATCH", 7)  # many batches: many chances to interleave
    clock.set_now(DAYTIME)
    return made


@pytest.fixture
def world(factory: sessionmaker[Session]) -> World:
    """The module's channels, templates and members (built once: the database is the module's)."""
    global _world
    if _world is None:
        with factory.begin() as session:
            _world = build(session, count=40)
    return _world


_world: World | None = None


def _campaign(factory: sessionmaker[Session], world: World, **fields: object) -> int:
    data = {"name": "并发", "rule": EVERYONE, "actions": actions(world, POINTS), **fields}
    with factory.begin() as session:
        return service.create(session, SYSTEM, CampaignIn.model_validate(data)).id


def _per_member(session: Session, model: type, *where: object) -> Counter[int]:
    rows = session.execute(
        select(model.member_id, func.count()).where(*where).group_by(model.member_id)
    )
    return Counter({member_id: count for member_id, count in rows})


def _check_treated_once(factory: sessionmaker[Session], campaign_id: int) -> Campaign:
    """The campaign done, its audience frozen once, every treated member treated, and each
    action done at most once per member, as its outcomes count."""
    source = launch.reference(campaign_id)
    with factory() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.status == "done"
        assert campaign.finished_at is not None
        frozen = list(
            session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign_id))
        )
        assert campaign.audience_size == len(frozen)
        assert campaign.control_size == sum(m.in_control for m in frozen)
        treated = {m.member_id for m in frozen if not m.in_control}
        assert all(m.treated_at is not None for m in frozen if not m.in_control)
        starts = session.scalar(
            select(func.count()).where(
                AuditEntry.action == "campaign.start", AuditEntry.entity_id == str(campaign_id)
            )
        )
        assert starts == 1
        coupons = _per_member(session, Coupon, Coupon.source_ref == source)
        messages = _per_member(session, Message, Message.source == source)  # skips written too
        reached = _per_member(
            session, Message, Message.source == source, Message.status != Status.skipped.value
        )
        grants = _per_member(
            session,
            PointsEntry,
            PointsEntry.kind == EntryKind.grant.value,
            PointsEntry.reason.contains(f"[{source}]"),
        )
        for given in (coupons, messages, grants):
            assert set(given.values()) <= {1}, given  # nobody twice
            assert set(given) <= treated  # nobody held out, nobody outside the audience
        outcomes = {
            (o.action_index, o.outcome): (o.members, o.units)
            for o in session.scalars(
                select(CampaignOutcome).where(CampaignOutcome.campaign_id == campaign_id)
            )
        }
        # Each action answered once for each treated member, and its `done` is what was given.
        for index in range(len(campaign.actions)):
            answered = sum(n for (i, _), (n, _) in outcomes.items() if i == index)
            assert answered == len(treated), (index, outcomes)
        assert outcomes[(0, "done")][0] == sum(coupons.values())
        assert outcomes[(1, "done")][0] == sum(reached.values())
        assert outcomes[(2, "done")] == (sum(grants.values()), POINTS * sum(grants.values()))
        session.expunge(campaign)
        return campaign


def test_two_launches_at_once_launch_once_and_treat_each_member_once(
    api: Api, factory: sessionmaker[Session], world: World
) -> None:
    campaign_id = _campaign(factory, world)

    def attempt(n: int) -> object:
        if n < 2:  # two launches through the API, each with its own key
            return api.post(f"/campaigns/{campaign_id}/launch").status_code
        with factory.begin() as session:  # the minute job resuming running campaigns
            return jobs.scheduled(session, clock.now())

    results = race(4, attempt)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(results[:2]) == [201, 409], results
    _check_treated_once(factory, campaign_id)
    with factory() as session:
        launches = session.scalar(
            select(func.count()).where(
                AuditEntry.action == "campaign.launch", AuditEntry.entity_id == str(campaign_id)
            )
        )
    assert launches == 1


def test_runners_racing_over_one_campaign_keep_its_budgets(
    factory: sessionmaker[Session], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Launched while its audience was small (the budgets covered it), the queue's task lost;
    members join before it runs, then six runners start at once: the budgets stop the treatment
    at exactly what they pay for."""
    budgets = {"budget_coupons": 45, "budget_points": POINTS * 40, "budget_messages": 30}
    campaign_id = _campaign(factory, world, **budgets)
    monkeypatch.setattr(jobs, "treat", lambda campaign_id: None)  # the queue lost the task
    with factory.begin() as session:
        service.launch(session, SYSTEM, campaign_id)
    with factory.begin() as session:  # the audience grows before the task runs
        for _ in range(40):
            make_member(session, consents={"sms": True})
    treat_batch = launch.treat_batch

    def slow_batch(
        session: Session, campaign_id: int, after: int = 0, lane: launch.Lane | None = None
    ) -> int | None:
        assert lane is None, "a campaign with budgets is treated in one lane"
        time.sleep(0.01)  # between a runner's batches, another may take the campaign's lock
        return treat_batch(session, campaign_id, after)

    monkeypatch.setattr(launch, "treat_batch", slow_batch)

    def runner(n: int) -> int:
        time.sleep(0.02 * n)  # the runners start while the others are mid-campaign
        return launch.run(campaign_id, factory, lanes=launch.LANES)  # budgets: one lane

    results = race(6, runner)
    assert not [r for r in results if isinstance(r, Exception)], results
    campaign = _check_treated_once(factory, campaign_id)
    assert campaign.audience_size is not None
    assert campaign.audience_size >= 80  # the members who joined are in it
    treated = campaign.audience_size - (campaign.control_size or 0)
    # The runners handed the campaign over between batches; no batch was split or repeated.
    assert sum(results) == -(-treated // launch.BATCH), results
    with factory() as session:
        source = launch.reference(campaign_id)
        coupons = session.scalar(select(func.count()).where(Coupon.source_ref == source))
        messages = session.scalar(
            select(func.count()).where(
                Message.source == source, Message.status != Status.skipped.value
            )
        )
        points = session.scalar(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.kind == EntryKind.grant.value,
                PointsEntry.reason.contains(f"[{source}]"),
            )
        )
    # Enough members to spend every budget: each is spent to the unit, never beyond.
    assert (coupons, messages, points) == (45, 30, POINTS * 40)


def test_one_runner_treats_a_campaign_without_budgets_in_two_lanes(
    factory: sessionmaker[Session], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id = _campaign(factory, world)
    monkeypatch.setattr(jobs, "treat", lambda campaign_id: None)  # the queue lost the task
    with factory.begin() as session:
        service.launch(session, SYSTEM, campaign_id)
    lanes: Counter[int] = Counter()
    treat_batch = launch.treat_batch

    def counted_batch(
        session: Session, campaign_id: int, after: int = 0, lane: launch.Lane | None = None
    ) -> int | None:
        treated = treat_batch(session, campaign_id, after, lane)
        if treated is not None:
            lanes[-1 if lane is None else lane.index] += 1
        return treated

    monkeypatch.setattr(launch, "treat_batch", counted_batch)
    batches = launch.run(campaign_id, factory, lanes=2)
    campaign = _check_treated_once(factory, campaign_id)
    treated = (campaign.audience_size or 0) - (campaign.control_size or 0)
    assert min(lanes[0], lanes[1]) >= 2, lanes  # both lanes, batch after batch
    assert lanes[-1] == 0, lanes  # nothing left for the runner of all members
    assert batches == lanes.total() >= -(-treated // launch.BATCH)


def test_one_runner_at_a_time_treats_in_lanes(
    factory: sessionmaker[Session], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign without budgets, four runners at once (the task, the minute job's resumes),
    each asking for two lanes, with each batch slowed while it holds its locks: one runner
    treats it, the others return at once, and every member is treated once."""
    campaign_id = _campaign(factory, world)
    monkeypatch.setattr(jobs, "treat", lambda campaign_id: None)  # the queue lost the task
    with factory.begin() as session:
        service.launch(session, SYSTEM, campaign_id)
    act = launch._Treatment.act

    def slow_act(self: launch._Treatment, member_ids: list[int], skipped: dict[int, str]) -> None:
        time.sleep(0.05)  # the batch's members chosen, its locks held
        act(self, member_ids, skipped)

    monkeypatch.setattr(launch._Treatment, "act", slow_act)
    launch.run(campaign_id, factory, batches=0)  # frozen first: the runners start together
    results = race(4, lambda n: launch.run(campaign_id, factory, lanes=2))
    assert not [r for r in results if isinstance(r, Exception)], results
    _check_treated_once(factory, campaign_id)
    assert sorted(results)[:3] == [0, 0, 0], results  # the others left it to the one
