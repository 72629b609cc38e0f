from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import clock, db, migrate
from patron.core.events import Event, OutboxEvent
from patron.journeys import triggers
from patron.members.models import Member
from patron.stores.models import Store
from patron.tiers import review, standing
from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged
from patron.tiers.models import TierChange
from tests import conftest
from tests.factories import make_member, make_store
from tests.journeys.helpers import entries, make_journey
from tests.tiers.helpers import cached, make_ladder, order, refund, set_program

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
EXIT = [{"key": "x", "type": "exit"}]
YUAN = 100


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(NOW)


@pytest.fixture
def store(session: Session) -> Store:
    make_ladder(session)
    return make_store(session)


@pytest.fixture
def changes() -> Any:
    seen: list[TierChanged] = []

    def listen(_session: Session, event: Event[TierChanged]) -> None:
        seen.append(event.payload)

    MEMBER_TIER_CHANGED.subscribers.register("test.review")(listen)
    yield seen
    MEMBER_TIER_CHANGED.subscribers.unregister("test.review")


def member_at(session: Session, store: Store, yuan: int, at: datetime = NOW) -> Member:
    member = make_member(session, store)
    buy(session, store, member, yuan, at)
    return member


def buy(session: Session, store: Store, member: Member, yuan: int, at: datetime) -> Any:
    clock.set_now(at)
    return order(session, store, member, yuan * YUAN, at)


def tier_of(session: Session, member: Member) -> str:
    session.expire_all()
    found = standing.current_tier(session, member.id)
    assert found is not None
    return found.code


def run_at(session: Session, at: datetime) -> review.ReviewReport:
    clock.set_now(at)
    return review.run(session, at)


def next_review(session: Session, member: Member) -> datetime | None:
    session.expire_all()
    return standing.standings(session, [member.id])[member.id].review_at


def downgrades(session: Session) -> int:
    found = session.scalar(
        select(func.count()).select_from(TierChange).where(TierChange.reason == "downgrade")
    )
    return int(found or 0)


def test_downgrade_one_step_after_review_and_grace(
    session: Session, store: Store, changes: list[TierChanged]
) -> None:
    member = member_at(session, store, 20_000)
    assert tier_of(session, member) == "diamond"
    review_at = cached(session, member.id).review_at  # type: ignore[union-attr]
    assert review_at == NOW.replace(year=2027)

    assert run_at(session, review_at + timedelta(days=29)).reviewed == 0  # within grace
    assert tier_of(session, member) == "diamond"

    at = review_at + timedelta(days=30)
    assert run_at(session, at) == review.ReviewReport(reviewed=1, downgraded=1)
    assert tier_of(session, member) == "gold"
    row = cached(session, member.id)
    assert row is not None
    assert (row.since, row.review_at) == (at, at.replace(year=2028))
    assert [(c.from_code, c.to_code, c.reason) for c in changes] == [
        ("normal", "diamond", "upgrade"),
        ("diamond", "gold", "downgrade"),
    ]
    outbox = session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.type == "member.tier_changed")
    ).all()
    assert outbox[-1] == {
        "member_id": member.id,
        "from_code": "diamond",
        "from_rank": 3,
        "to_code": "gold",
        "to_rank": 2,
        "reason": "downgrade",
    }


def test_running_twice_changes_nothing_more(session: Session, store: Store) -> None:
    member = member_at(session, store, 20_000)
    at = NOW.replace(year=2027) + timedelta(days=30)
    assert run_at(session, at).downgraded == 1
    before = cached(session, member.id)
    assert before is not None
    snapshot = (before.tier_id, before.since, before.review_at)
    assert run_at(session, at) == review.ReviewReport(0, 0)
    after = cached(session, member.id)
    assert after is not None
    assert (after.tier_id, after.since, after.review_at) == snapshot
    assert downgrades(session) == 1


def test_to_earned_goes_straight_to_the_tier_growth_earns(session: Session, store: Store) -> None:
    set_program(session, downgrade="to_earned")
    member = member_at(session, store, 20_000)
    # 1,500 growth in the window at review: silver's entry (1,000), below gold's
    buy(session, store, member, 1_500, NOW + timedelta(days=300))
    run_at(session, NOW.replace(year=2027) + timedelta(days=30))
    assert tier_of(session, member) == "silver"
    row = cached(session, member.id)
    assert row is not None
    assert row.review_at is not None
    nothing = member_at(session, store, 20_000)
    run_at(session, NOW.replace(year=2028) + timedelta(days=60))
    assert tier_of(session, nothing) == "normal"
    assert cached(session, nothing.id).review_at is None  # type: ignore[union-attr]


def test_stays_at_or_above_retention_reviewed_a_year_later(session: Session, store: Store) -> None:
    member = member_at(session, store, 20_000)
    review_at = NOW.replace(year=2027)
    buy(session, store, member, 15_000, review_at - timedelta(days=10))  # retention
    assert run_at(session, review_at + timedelta(days=30)).downgraded == 0
    assert tier_of(session, member) == "diamond"
    row = cached(session, member.id)
    assert row is not None
    # the row is not written: its first review stays, the next is a year after it
    assert (row.since, row.review_at) == (NOW, review_at)
    assert next_review(session, member) == NOW.replace(year=2028)


def test_a_member_who_stayed_is_reviewed_again_only_a_year_later(
    session: Session, store: Store
) -> None:
    member = member_at(session, store, 20_000)
    first = NOW.replace(year=2027)
    taken = buy(session, store, member, 15_000, first - timedelta(days=10))
    assert run_at(session, first + timedelta(days=30)) == review.ReviewReport(1, 0)
    refund(session, taken.id)  # below retention now, but no review is due
    for days in (31, 100, 364):
        assert run_at(session, first + timedelta(days=days)).reviewed == 0
    assert tier_of(session, member) == "diamond"
    second = first.replace(year=2028)
    assert run_at(session, second + timedelta(days=29)).reviewed == 0  # within grace
    assert run_at(session, second + timedelta(days=30)) == review.ReviewReport(1, 1)
    assert tier_of(session, member) == "gold"


def test_missed_runs_are_reviewed_once(session: Session, store: Store) -> None:
    """A job not run for over a year: the member is reviewed once, and next on the first
    anniversary of their review after the run's cutoff."""
    member = member_at(session, store, 20_000)
    buy(session, store, member, 15_000, NOW.replace(year=2028) - timedelta(days=1))
    run_at(session, NOW)  # the job ran once, long before
    at = NOW.replace(year=2028) + timedelta(days=40)
    assert run_at(session, at) == review.ReviewReport(1, 0)
    assert next_review(session, member) == NOW.replace(year=2029)
    assert run_at(session, at).reviewed == 0
    assert run_at(session, NOW.replace(year=2029) + timedelta(days=30)).reviewed == 1


def test_refund_alone_never_downgrades_monthly_review_does(session: Session, store: Store) -> None:
    set_program(session, evaluation="monthly", grace_days=0)
    member = make_member(session, store)
    taken = buy(session, store, member, 6_000, NOW)
    assert tier_of(session, member) == "gold"
    first = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 1 April, Shanghai
    assert cached(session, member.id).review_at == first  # type: ignore[union-attr]

    assert run_at(session, first).downgraded == 0  # 6,000 qualifying: stays
    assert next_review(session, member) == datetime(2026, 4, 30, 16, 0, tzinfo=UTC)
    refund(session, taken.id)
    assert tier_of(session, member) == "gold"  # a refund alone moves nothing
    run_at(session, datetime(2026, 4, 30, 15, 59, tzinfo=UTC))
    assert tier_of(session, member) == "gold"
    run_at(session, datetime(2026, 4, 30, 16, 0, tzinfo=UTC))
    assert tier_of(session, member) == "silver"


def test_29_february_entry_is_reviewed_on_28_february(session: Session, store: Store) -> None:
    leap = datetime(2028, 2, 29, 4, 0, tzinfo=UTC)
    clock.set_now(leap)
    member = member_at(session, store, 20_000, leap)
    buy(session, store, member, 15_000, datetime(2029, 2, 1, tzinfo=UTC))
    assert cached(session, member.id).review_at == datetime(  # type: ignore[union-attr]
        2029, 2, 28, 4, 0, tzinfo=UTC
    )
    run_at(session, datetime(2029, 3, 30, 4, 0, tzinfo=UTC))
    assert next_review(session, member) == datetime(2030, 2, 28, 4, 0, tzinfo=UTC)


def test_members_not_due_are_untouched(session: Session, store: Store) -> None:
    early = member_at(session, store, 20_000)
    late = member_at(session, store, 20_000, NOW + timedelta(days=100))
    run_at(session, NOW.replace(year=2027) + timedelta(days=31))
    assert (tier_of(session, early), tier_of(session, late)) == ("gold", "diamond")


def test_tiers_off_reviews_nothing(session: Session) -> None:
    assert review.run(session, NOW) == review.ReviewReport(0, 0)


def test_a_review_moving_many_enters_their_journeys_and_publishes_each_once(
    session: Session, store: Store, changes: list[TierChanged]
) -> None:
    """The review tells the subscribers of all its moves at once: the journeys' batch form
    enters each mover as the per-event subscriber would (direction, tier, ref, draw), a
    subscriber without a batch form still gets each change, and the outbox has one event per
    mover."""
    down = make_journey(session, {"event": "member.tier_changed", "direction": "down"}, EXIT)
    to_gold = make_journey(
        session, {"event": "member.tier_changed", "to_tier": "gold"}, EXIT, name="金"
    )
    up = make_journey(session, {"event": "member.tier_changed", "direction": "up"}, EXIT, name="升")
    movers = {
        member_at(session, store, yuan).id: to
        for yuan, to in ((20_000, "gold"), (6_000, "silver"), (1_500, "normal"))
        for _ in range(4)
    }
    ups = len(changes)
    at = NOW.replace(year=2027) + timedelta(days=30)
    assert run_at(session, at) == review.ReviewReport(12, 12)
    stamp = int(at.timestamp() * 1000)

    def entered(journey: Any) -> dict[int, str]:
        found = entries(session, journey)
        return {e.member_id: e.trigger_ref for e in found if e.entered_at == at}

    assert entered(down) == {m: f"tier:{to}:{stamp}" for m, to in movers.items()}
    assert entered(to_gold) == {m: f"tier:gold:{stamp}" for m, to in movers.items() if to == "gold"}
    assert entered(up) == {}
    for entry in entries(session, down):
        plan = triggers.running(session).plans["member.tier_changed"][0]
        assert entry.in_control == triggers.in_control(plan.seed, entry.member_id, 10)
    moved = [(c.member_id, c.to_code, c.reason) for c in changes[ups:]]
    assert sorted(moved) == sorted((m, to, "downgrade") for m, to in movers.items())
    outbox = session.scalars(
        select(OutboxEvent.payload).where(
            OutboxEvent.type == "member.tier_changed", OutboxEvent.occurred_at == at
        )
    ).all()
    assert sorted((p["member_id"], p["to_code"]) for p in outbox) == sorted(movers.items())


@pytest.fixture(scope="module")
def pg_engine() -> Any:
    if conftest._postgres_skip_reason:
        pytest.skip(conftest._postgres_skip_reason)
    url = conftest._create_postgres_database()
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    conftest._drop_postgres_database(url)


def test_a_member_whose_growth_changes_after_the_decision_is_decided_again(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, committed for real: an order's growth lands between the review's decision
    and its update; that member stays (decided again), the other goes down."""
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        make_ladder(session)
        store = make_store(session)
        rescued, falling = (member_at(session, store, 20_000) for _ in range(2))
    at = NOW.replace(year=2027) + timedelta(days=30)
    real_lock = review._lock

    def order_lands_first(session: Session) -> Any:
        with factory.begin() as other:
            clock.set_now(at)
            order(other, store, rescued.id, 15_000 * YUAN, at)
        return real_lock(session)

    monkeypatch.setattr(review, "_lock", order_lands_first)
    with factory.begin() as session:
        assert run_at(session, at) == review.ReviewReport(reviewed=2, downgraded=1)
    with factory.begin() as session:
        assert (tier_of(session, rescued), tier_of(session, falling)) == ("diamond", "gold")
        moved = session.scalars(
            select(TierChange.member_id).where(TierChange.reason == "downgrade")
        ).all()
        assert moved == [falling.id]
