"""Random orders, refunds, paid terms, clock advances and daily job runs (`patron jobs run`: the
tier review and the lapse of paid terms among them) for three members, under each qualifying metric, evaluation, downgrade mode and a
few grace periods. After every step: each member's growth ledger sums to their cached growth; no
member's tier goes down but in a job run, and there only when the rules say so (review date plus
grace passed and qualifying growth below the held tier's retention threshold), to the tier the
downgrade mode gives; a job run leaves no member due; after an order the member holds the higher
of the tier they held and the tier their qualifying growth reaches; and a tier entered (or left)
is reviewed when `standing.review_date` says; after a payment or a job run the member's tier is
the higher of the held tier and the tiers of the paid terms running then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.orders import service as orders
from patron.orders.models import Order
from patron.tiers import growth, jobs, ladder, paid, program, standing
from patron.tiers.ladder import Rung
from patron.tiers.models import MemberTier, PaidMembership, PaidPlan, Tier
from tests.factories import make_member, make_store
from tests.tiers.helpers import make_ladder, order, refund, set_program

START = datetime(2025, 11, 20, 4, 0, tzinfo=UTC)
SMALL = (
    ("normal", 0, 0, 0),
    ("silver", 1, 300, 200),
    ("gold", 2, 1000, 800),
    ("diamond", 3, 3000, 2500),
)
MEMBERS = 3
PLAN = {"name": "PLUS", "price": 1_900}

steps = st.lists(
    st.one_of(
        # growth 3 × yuan: around the thresholds and retention thresholds below
        st.tuples(
            st.just("order"),
            st.integers(0, MEMBERS - 1),
            st.sampled_from([15, 70, 90, 280, 320, 900, 1100]),
        ),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(0, 3)),
        # days: within a month, to the next review, past a year and its grace; then, mostly, a
        # job run at the new time
        st.tuples(
            st.just("advance"),
            st.sampled_from([1, 9, 31, 95, 200, 366, 400]),
            st.sampled_from([0, 1, 1]),
        ),
        st.tuples(st.just("jobs"), st.just(0), st.just(0)),
        # a paid term: a month of gold, or a quarter of diamond
        st.tuples(st.just("pay"), st.integers(0, MEMBERS - 1), st.integers(0, 1)),
    ),
    min_size=5,
    max_size=30,
)
programs = st.fixed_dictionaries(
    {
        "metric": st.sampled_from(["rolling_12m", "calendar_year", "lifetime"]),
        "evaluation": st.sampled_from(["anniversary", "monthly"]),
        "downgrade": st.sampled_from(["one_step", "to_earned"]),
        "grace_days": st.sampled_from([0, 7, 30]),
    }
)


def check_ledger(session: Session, member_ids: list[int]) -> None:
    cached = dict(
        session.execute(
            select(MemberTier.member_id, MemberTier.growth).where(
                MemberTier.member_id.in_(member_ids)
            )
        ).all()
    )
    for member_id in member_ids:
        assert growth.lifetime_sum(session, member_id) == cached.get(member_id, 0)


def below(rungs: tuple[Rung, ...], held: Rung) -> Rung:
    return max((r for r in rungs if r.rank < held.rank), key=lambda r: r.rank)


def after_review(
    session: Session, prog: program.Program, held: standing.Standing, now: datetime
) -> Rung:
    """The tier the rules give a member at a review run at `now`."""
    if held.review_at is None or held.review_at + timedelta(days=prog.grace_days) > now:
        return held.held
    qualifying = growth.qualifying_growth(session, held.member_id, prog.metric, now)
    if qualifying >= held.held.retention_threshold:
        return held.held
    rungs = ladder.ladder(session)
    if prog.downgrade == "one_step":
        return below(rungs, held.held)
    reached = ladder.earned(rungs, qualifying)
    assert reached is not None
    return reached


def refund_some(session: Session, order_ids: list[int], pick: int, quantity: int) -> None:
    if not order_ids:
        return
    target = order_ids[pick % len(order_ids)]
    left = session.scalar(select(Order.total - Order.refunded_amount).where(Order.id == target))
    if not left:
        return
    items_left = 3 - orders.lines_of(session, target)[0].refunded_quantity
    refund(session, target, min(quantity, items_left) if quantity else None)


def paid_rank(session: Session, member_id: int, now: datetime) -> int:
    """The highest rank of the tiers of the member's terms running at `now` (-1: none)."""
    ranks = session.scalars(
        select(Tier.rank)
        .join(PaidPlan, PaidPlan.tier_id == Tier.id)
        .join(PaidMembership, PaidMembership.plan_id == PaidPlan.id)
        .where(
            PaidMembership.member_id == member_id,
            PaidMembership.starts_at <= now,
            PaidMembership.ends_at > now,
        )
    )
    return max(ranks, default=-1)


def expanded(script: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    done: list[tuple[str, int, int]] = []
    for kind, a, b in script:
        done.append((kind, a, b))
        if kind == "advance" and b:
            done.append(("jobs", 0, 0))
    return done


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, chosen=programs)
def test_tiers_go_down_only_in_job_runs_and_as_the_rules_say(
    session: Session, script: list[tuple[str, int, int]], chosen: dict[str, object]
) -> None:
    with session.begin_nested() as savepoint, clock.frozen(START):
        tier_ids = {t.code: t.id for t in make_ladder(session, SMALL)}
        set_program(session, **chosen)
        prog = program.program(session)
        store = make_store(session)
        ids = [make_member(session, store).id for _ in range(MEMBERS)]
        plans = [
            paid.save_plan(session, SYSTEM, PLAN | {"term": term, "tier_id": tier_id}).id
            for term, tier_id in (("month", tier_ids["gold"]), ("quarter", tier_ids["diamond"]))
        ]
        order_ids: list[int] = []
        now = START
        for kind, a, b in expanded(script):
            with clock.frozen(now):
                before = standing.standings(session, ids)
                expected = {m: s.held for m, s in before.items()}
                if kind == "order":
                    fen = b * 100 * 3
                    order_ids.append(order(session, store, ids[a], fen, now, quantity=3).id)
                    qualifying = growth.qualifying_growth(session, ids[a], prog.metric, now)
                    reached = ladder.earned(ladder.ladder(session), qualifying)
                    assert reached is not None
                    expected[ids[a]] = max(before[ids[a]].held, reached, key=lambda r: r.rank)
                elif kind == "refund":
                    refund_some(session, order_ids, a, b)
                elif kind == "advance":
                    now += timedelta(days=a)
                elif kind == "pay":
                    paid.pay(session, SYSTEM, ids[a], paid.Payment(plans[b], "cash", "", None))
                else:
                    expected = {m: after_review(session, prog, s, now) for m, s in before.items()}
                    jobs.run(session, now)
                session.expire_all()
                check_ledger(session, ids)
                found = standing.standings(session, ids)
            for m in ids:
                assert found[m].held == expected[m], (kind, m)
                if kind != "jobs":
                    assert found[m].held.rank >= before[m].held.rank, "down outside a review"
                elif found[m].held.rank < before[m].held.rank:
                    event("downgraded")
                if found[m].held != before[m].held:
                    assert found[m].since == now
                    assert found[m].review_at == standing.review_date(prog, found[m].held, now)
                if kind == "jobs" and found[m].review_at is not None:
                    assert found[m].review_at + timedelta(days=prog.grace_days) > now, "still due"
                if kind in ("pay", "jobs"):  # the paid tier set again: by the payment, the lapse
                    with clock.frozen(now):
                        live = paid_rank(session, m, now)
                    assert found[m].tier.rank == max(found[m].held.rank, live), (kind, m)
        savepoint.rollback()
