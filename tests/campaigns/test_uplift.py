"""Uplift statistics: exact figures against hand formulas (no scipy), recovery of a known effect
in generated data (and ~95% coverage over repeated draws), an interval around zero when there
is no effect, and the group facts read from orders (window, refunds, members without orders)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from patron.campaigns.uplift import Group, compare, group_facts
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.db import UTCDateTime
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from tests.factories import make_member, make_order, make_store

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def _t_cdf(x: float, df: float, steps: int = 2000) -> float:
    """Student's t CDF for x ≥ 0 by Simpson's rule over the density (no scipy)."""
    scale = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def density(u: float) -> float:
        return scale * (1 + u * u / df) ** (-(df + 1) / 2)

    h = x / steps
    total = density(0) + density(x)
    total += sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    return 0.5 + total * h / 3


def _t_quantile(p: float, df: float) -> float:
    low, high = 0.0, 50.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


def _group(revenues: list[int]) -> Group:
    return Group(
        members=len(revenues),
        converters=sum(1 for r in revenues if r > 0),
        revenue=sum(revenues),
        revenue_sq=float(sum(r * r for r in revenues)),
    )


def _draw(rng: random.Random, n: int, rate: float, mean_basket: float) -> list[int]:
    """Each member converts with `rate`; a converter spends an exponential basket (fen)."""
    return [
        max(1, round(rng.expovariate(1 / mean_basket))) if rng.random() < rate else 0
        for _ in range(n)
    ]


def test_exact_figures_match_hand_formulas() -> None:
    treated = [0] * 30 + [5000, 12000, 8000, 3000, 20000, 7000, 9900, 100, 4000, 6000]
    control = [0] * 35 + [4000, 2500, 10000, 6000, 1500]
    found = compare(_group(treated), _group(control))

    n_t, n_c = len(treated), len(control)
    p_t, p_c = 10 / n_t, 5 / n_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    conversion = found.conversion
    assert conversion.treated == pytest.approx(p_t)
    assert conversion.absolute == pytest.approx(p_t - p_c)
    assert conversion.absolute_ci == pytest.approx((p_t - p_c - Z95 * se, p_t - p_c + Z95 * se))
    var_t, var_c = p_t * (1 - p_t) / n_t, p_c * (1 - p_c) / n_c
    se_ratio = (p_t / p_c) * math.sqrt(var_t / p_t**2 + var_c / p_c**2)
    assert conversion.relative == pytest.approx(p_t / p_c - 1)
    assert conversion.relative_ci == pytest.approx(
        (p_t / p_c - 1 - Z95 * se_ratio, p_t / p_c - 1 + Z95 * se_ratio)
    )

    m_t, m_c = sum(treated) / n_t, sum(control) / n_c
    s2_t = sum((r - m_t) ** 2 for r in treated) / (n_t - 1)
    s2_c = sum((r - m_c) ** 2 for r in control) / (n_c - 1)
    a, b = s2_t / n_t, s2_c / n_c
    df = (a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1))
    half = _t_quantile(0.975, df) * math.sqrt(a + b)
    revenue = found.revenue_per_member
    assert revenue.treated == pytest.approx(m_t)
    assert revenue.absolute == pytest.approx(m_t - m_c)
    assert revenue.absolute_ci == pytest.approx((m_t - m_c - half, m_t - m_c + half), rel=1e-6)
    assert found.incremental_revenue == round((m_t - m_c) * n_t)
    assert found.incremental_revenue_ci == pytest.approx(
        ((m_t - m_c - half) * n_t, (m_t - m_c + half) * n_t), rel=1e-6
    )


def test_exact_figures_match_pandas() -> None:
    pandas = pytest.importorskip("pandas")
    rng = random.Random(7)
    frame = pandas.DataFrame(
        {"group": ["t"] * 400 + ["c"] * 100, "revenue": _draw(rng, 500, 0.2, 8000)}
    )
    stats = frame.groupby("group")["revenue"].agg(["count", "mean", "var"])
    found = compare(
        _group(list(frame[frame.group == "t"].revenue)),
        _group(list(frame[frame.group == "c"].revenue)),
    )
    revenue = found.revenue_per_member
    assert revenue.treated == pytest.approx(stats.loc["t", "mean"])
    assert revenue.control == pytest.approx(stats.loc["c", "mean"])
    se = math.sqrt(
        stats.loc["t", "var"] / stats.loc["t", "count"]
        + stats.loc["c", "var"] / stats.loc["c", "count"]
    )
    assert revenue.absolute_ci is not None
    lo, hi = revenue.absolute_ci
    assert (hi - lo) / 2 / se == pytest.approx(1.96, abs=0.02)  # df large: t close to z


def _covers(interval: tuple[float, float] | None, value: float) -> bool:
    assert interval is not None
    return interval[0] <= value <= interval[1]


P_CONTROL, P_TREATED, BASKET = 0.10, 0.14, 10000.0


def test_a_known_effect_lies_within_its_interval() -> None:
    rng = random.Random(2026)
    treated = _group(_draw(rng, 9000, P_TREATED, BASKET))
    control = _group(_draw(rng, 1000, P_CONTROL, BASKET))
    found = compare(treated, control)
    assert _covers(found.conversion.absolute_ci, P_TREATED - P_CONTROL)
    assert _covers(found.conversion.relative_ci, P_TREATED / P_CONTROL - 1)
    true_rpm = (P_TREATED - P_CONTROL) * BASKET
    assert _covers(found.revenue_per_member.absolute_ci, true_rpm)
    assert _covers(found.revenue_per_member.relative_ci, P_TREATED / P_CONTROL - 1)
    assert _covers(found.incremental_revenue_ci, true_rpm * 9000)
    # And it is an effect: the intervals leave zero out.
    assert found.conversion.absolute_ci is not None
    assert found.conversion.absolute_ci[0] > 0


def test_repeated_draws_cover_the_true_effect_about_95_percent_of_the_time() -> None:
    rng = random.Random(18)
    draws = 400
    hits = {"conversion": 0, "revenue": 0, "relative": 0}
    for _ in range(draws):
        found = compare(
            _group(_draw(rng, 2000, P_TREATED, BASKET)),
            _group(_draw(rng, 800, P_CONTROL, BASKET)),
        )
        hits["conversion"] += _covers(found.conversion.absolute_ci, P_TREATED - P_CONTROL)
        true_rpm = (P_TREATED - P_CONTROL) * BASKET
        hits["revenue"] += _covers(found.revenue_per_member.absolute_ci, true_rpm)
        hits["relative"] += _covers(found.conversion.relative_ci, P_TREATED / P_CONTROL - 1)
    # 95% of 400 is 380 with a binomial standard deviation of ~4.4 draws.
    for name, count in hits.items():
        assert 0.92 <= count / draws <= 0.98, (name, count)


def test_no_effect_the_intervals_cover_zero() -> None:
    rng = random.Random(99)
    found = compare(
        _group(_draw(rng, 5000, P_CONTROL, BASKET)), _group(_draw(rng, 1000, P_CONTROL, BASKET))
    )
    for interval in (
        found.conversion.absolute_ci,
        found.conversion.relative_ci,
        found.revenue_per_member.absolute_ci,
        found.revenue_per_member.relative_ci,
        found.incremental_revenue_ci,
    ):
        assert _covers(interval, 0.0)


def test_what_cannot_be_formed_is_none() -> None:
    treated = Group(members=100, converters=10, revenue=50000, revenue_sq=5e8)
    empty = compare(treated, Group(0, 0, 0, 0.0))
    assert empty.conversion.control is None
    assert empty.conversion.absolute_ci is None
    assert empty.incremental_revenue is None
    never = compare(treated, Group(members=50, converters=0, revenue=0, revenue_sq=0.0))
    assert never.conversion.absolute == pytest.approx(0.1)
    assert never.conversion.relative is None
    assert never.revenue_per_member.relative is None
    assert never.incremental_revenue == 50000
    same = compare(Group(10, 10, 1000, 1e5), Group(10, 10, 1000, 1e5))
    assert same.revenue_per_member.absolute_ci == (0.0, 0.0)


LAUNCH = datetime(2026, 3, 1, 2, 0, 0, 123456, tzinfo=UTC)


def _buy(session: Session, store: object, member: Member, at: datetime, n: int) -> int:
    order = make_order(
        session,
        store,  # type: ignore[arg-type]
        member,
        external_id=f"U-{member.id}-{n}",
        occurred_at=at.isoformat(),
    )
    return order.id


def test_group_facts_read_the_window_net_of_refunds(session: Session) -> None:
    store = make_store(session)
    members = [make_member(session, store) for _ in range(6)]
    t1, t2, t3, c1, c2, t4 = members
    with clock.frozen(LAUNCH + timedelta(days=30)):
        _buy(session, store, t1, LAUNCH + timedelta(hours=1), 1)  # 12000
        _buy(session, store, t1, LAUNCH + timedelta(days=13, hours=23), 2)  # 12000
        _buy(session, store, t2, LAUNCH - timedelta(seconds=1), 3)  # before: not counted
        _buy(session, store, t2, LAUNCH + timedelta(days=14), 4)  # at the end: not counted
        refunded = _buy(session, store, t3, LAUNCH + timedelta(days=2), 5)
        orders.refund_order(session, SYSTEM, refunded, RefundCreate(all=True))
        _buy(session, store, c1, LAUNCH, 6)  # at the start: counted
        partly = _buy(session, store, t4, LAUNCH + timedelta(days=3), 7)
        line = orders.lines_of(session, partly)[1]  # 毛巾 3000 of 12000
        orders.refund_order(
            session,
            SYSTEM,
            partly,
            RefundCreate.model_validate({"items": [{"line_id": line.id, "quantity": 3}]}),
        )
    session.flush()
    control_ids = {c1.id, c2.id}
    audience = select(
        Member.id,
        Member.id.in_(control_ids),
        literal(LAUNCH, UTCDateTime()),
    ).where(Member.id.in_([m.id for m in members]))
    treated, control = group_facts(session, audience, 14)
    assert treated == Group(4, 2, 24000 + 9000, float(24000**2 + 9000**2))
    assert control == Group(2, 1, 12000, float(12000**2))


def test_group_facts_of_an_empty_audience(session: Session) -> None:
    audience = select(Member.id, Member.id > 0, literal(LAUNCH, UTCDateTime())).where(Member.id < 0)
    assert group_facts(session, audience, 14) == (Group(0, 0, 0, 0.0), Group(0, 0, 0, 0.0))
