"""CLV models: parameters recovered from members generated with known ones, and the per-member
formulas against independent scalar code."""

from __future__ import annotations

import numpy as np
import pytest

from patron.core.errors import PatronError
from patron.profiles import clv
from patron.profiles.clv import BgNbd, GammaGamma
from tests.profiles.clv_simulation import (
    TRUE_A,
    TRUE_ALPHA,
    TRUE_B,
    TRUE_GAMMA,
    TRUE_P,
    TRUE_Q,
    TRUE_R,
    Members,
    simulate,
)

MODEL = BgNbd(r=TRUE_R, alpha=TRUE_ALPHA, a=TRUE_A, b=TRUE_B)
SPEND = GammaGamma(p=TRUE_P, q=TRUE_Q, gamma=TRUE_GAMMA)


@pytest.fixture(scope="module")
def members() -> Members:
    return simulate(300_000, seed=17)


def close(found: float, true: float, within: float) -> bool:
    return abs(found - true) <= within * true


def test_bgnbd_recovers_the_generating_parameters(members: Members) -> None:
    s = members
    fitted = clv.fit_bgnbd(s.frequency, s.recency, s.age)
    assert close(fitted.r, TRUE_R, 0.03), fitted
    assert close(fitted.alpha, TRUE_ALPHA, 0.03), fitted
    assert close(fitted.a, TRUE_A, 0.05), fitted
    assert close(fitted.b, TRUE_B, 0.05), fitted


def test_bgnbd_on_whole_days_recovers_them_too() -> None:
    s = simulate(300_000, seed=5, whole_days=True)
    fitted = clv.fit_bgnbd(s.frequency.astype(np.int64), s.recency, s.age)
    # Flooring to days shortens every recency by half a day on average: alpha moves a little.
    assert close(fitted.r, TRUE_R, 0.04), fitted
    assert close(fitted.alpha, TRUE_ALPHA, 0.05), fitted
    assert close(fitted.a, TRUE_A, 0.06), fitted
    assert close(fitted.b, TRUE_B, 0.06), fitted


def test_the_fit_is_deterministic_and_ignores_row_order() -> None:
    s = simulate(20_000, seed=9, whole_days=True)
    first = clv.fit_bgnbd(s.frequency, s.recency, s.age)
    order = np.random.default_rng(1).permutation(s.frequency.size)
    again = clv.fit_bgnbd(s.frequency[order], s.recency[order], s.age[order])
    assert first == clv.fit_bgnbd(s.frequency, s.recency, s.age)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(again, name) == pytest.approx(getattr(first, name), rel=1e-6)


def test_compressed_rows_give_the_same_fit_as_distinct_ones() -> None:
    s = simulate(20_000, seed=11, whole_days=True)
    whole = clv.fit_bgnbd(s.frequency, s.recency, s.age)  # int64 key path
    # A tiny offset on every age defeats the whole-day key: the three-column sort instead.
    fractional = clv.fit_bgnbd(s.frequency, s.recency, s.age + 1e-9)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fractional, name) == pytest.approx(getattr(whole, name), rel=1e-5)
    x, t_x, t, counts = clv._compress(s.frequency, s.recency, s.age)
    assert counts.sum() == s.frequency.size
    assert len(x) < s.frequency.size
    rebuilt = np.repeat(np.column_stack((x, t_x, t)), counts.astype(np.int64), axis=0)
    original = np.column_stack((s.frequency, s.recency, s.age))
    assert np.array_equal(rebuilt, original[np.lexsort(original.T[::-1])])


def test_gamma_gamma_recovers_the_generating_parameters(members: Members) -> None:
    s = members
    fitted = clv.fit_gamma_gamma(s.frequency, s.monetary)
    assert close(fitted.p, TRUE_P, 0.05), fitted
    assert close(fitted.q, TRUE_Q, 0.05), fitted
    assert close(fitted.gamma, TRUE_GAMMA, 0.05), fitted
    # The population mean spend is estimated closely even when the parameters trade off.
    mean = fitted.p * fitted.gamma / (fitted.q - 1)
    assert close(mean, TRUE_P * TRUE_GAMMA / (TRUE_Q - 1), 0.02)


def test_too_few_repeat_customers_is_a_domain_error() -> None:
    frequency = np.array([0] * 100 + [1] * 9, dtype=np.float64)
    recency = np.where(frequency > 0, 5.0, 0.0)
    age = np.full(frequency.size, 30.0)
    with pytest.raises(clv.ClvNotEnoughData) as refused:
        clv.fit_bgnbd(frequency, recency, age)
    assert isinstance(refused.value, PatronError)
    assert isinstance(refused.value, clv.ClvFitError)
    assert refused.value.code == "clv_not_enough_data"
    with pytest.raises(clv.ClvNotEnoughData):
        clv.fit_gamma_gamma(frequency, np.where(frequency > 0, 1000.0, 0.0))
    with pytest.raises(clv.ClvNotEnoughData):
        clv.fit_bgnbd([], [], [])


def test_inputs_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError, match="recency cannot exceed age"):
        clv.probability_alive(MODEL, [1], [10], [5])
    with pytest.raises(ValueError, match="whole numbers"):
        clv.probability_alive(MODEL, [1.5], [1], [5])
    with pytest.raises(ValueError, match="negative"):
        clv.probability_alive(MODEL, [-1], [0], [5])
    with pytest.raises(ValueError, match="same length"):
        clv.probability_alive(MODEL, [1, 2], [1], [5])


def test_probability_alive() -> None:
    # No repeat purchase: still a customer, whatever the age.
    assert np.array_equal(
        clv.probability_alive(MODEL, [0, 0, 0], [0, 0, 0], [0, 10, 900]), [1, 1, 1]
    )
    # Fixed x and t_x: the longer the silence, the less likely alive.
    ages = np.arange(100, 1000, 50, dtype=np.float64)
    alive = clv.probability_alive(MODEL, np.full(ages.size, 3), np.full(ages.size, 100), ages)
    assert np.all(np.diff(alive) < 0)
    # Bought yesterday (t_x = T): 1 / (1 + a / (b + x - 1)).
    assert clv.probability_alive(MODEL, [4], [200], [200])[0] == pytest.approx(
        1 / (1 + TRUE_A / (TRUE_B + 3))
    )
    # By hand: x = 2, t_x = 30, T = 200.
    r, alpha, a, b = TRUE_R, TRUE_ALPHA, TRUE_A, TRUE_B
    by_hand = 1 / (1 + a / (b + 1) * ((alpha + 200) / (alpha + 30)) ** (r + 2))
    assert clv.probability_alive(MODEL, [2], [30], [200])[0] == pytest.approx(by_hand, rel=1e-12)


def hyp2f1_series(a: float, b: float, c: float, z: float) -> float:
    term, total, k = 1.0, 1.0, 0
    while abs(term) > 1e-17 * abs(total):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
        k += 1
    return total


def expected_by_hand(m: BgNbd, t: float, x: int, t_x: float, age: float) -> float:
    """FHL 2005 eq. (10) as lifetimes writes it, straight from the paper."""
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    first = (a + b + x - 1) / (a - 1)
    hyp = hyp2f1_series(r + x, b + x, a + b + x - 1, t / (alpha + age + t))
    second = 1 - hyp * ((alpha + age) / (alpha + age + t)) ** (r + x)
    dropped = (a / (b + x - 1)) * ((alpha + age) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
    return float(first * second / (1 + dropped))


@pytest.mark.parametrize(
    ("days", "x", "t_x", "age"),
    [
        (365, 0, 0, 0),
        (365, 0, 0, 400),
        (365, 1, 20, 300),
        (365, 3, 250, 300),
        (30, 7, 500, 700),
        (365, 12, 900, 1000),
        (730, 25, 1000, 1030),
        (365, 300, 1000, 1000),
    ],
)
def test_expected_purchases_against_the_closed_form(
    days: int, x: int, t_x: float, age: float
) -> None:
    found = clv.expected_purchases(MODEL, days, [x], [t_x], [age])[0]
    assert found == pytest.approx(expected_by_hand(MODEL, days, x, t_x, age), rel=1e-9)
    other = BgNbd(r=1.3, alpha=12.0, a=2.5, b=6.0)  # a > 1 too
    found = clv.expected_purchases(other, days, [x], [t_x], [age])[0]
    assert found == pytest.approx(expected_by_hand(other, days, x, t_x, age), rel=1e-9)


def test_expected_purchases_shapes() -> None:
    x = np.array([0, 1, 5, 40, 300], dtype=np.float64)
    t_x = np.array([0, 10, 300, 900, 1000], dtype=np.float64)
    age = np.full(5, 1000.0)
    found = clv.expected_purchases(MODEL, 365, x, t_x, age)
    assert found.shape == (5,)
    assert np.all(np.isfinite(found))
    assert np.all(found >= 0)
    assert np.array_equal(clv.expected_purchases(MODEL, 0, x, t_x, age), np.zeros(5))
    # New members, 365 days: the unconditional E[X(t)] of FHL eq. (9) at T = 0.
    r, alpha, a, b = MODEL.r, MODEL.alpha, MODEL.a, MODEL.b
    unconditional = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + 365)) ** r * hyp2f1_series(r, b, a + b - 1, 365 / (alpha + 365)))
    )
    assert clv.expected_purchases(MODEL, 365, [0], [0], [0])[0] == pytest.approx(unconditional)
    # a = 1 exactly: the limit, finite and between its neighbours.
    near = [
        clv.expected_purchases(BgNbd(r=0.5, alpha=20, a=a, b=3), 365, [2], [50], [100])[0]
        for a in (0.999, 1.0, 1.001)
    ]
    assert min(near[0], near[2]) - 1e-3 <= near[1] <= max(near[0], near[2]) + 1e-3
    # a + b = 1 with x = 0 (the hypergeometric's c = 0): the limit too.
    near = [
        clv.expected_purchases(BgNbd(r=0.5, alpha=20, a=0.3, b=b), 365, [0], [0], [300])[0]
        for b in (0.6999, 0.7, 0.7001)
    ]
    assert min(near[0], near[2]) <= near[1] <= max(near[0], near[2])


def test_expected_spend() -> None:
    p, q, gamma = TRUE_P, TRUE_Q, TRUE_GAMMA
    found = clv.expected_spend(SPEND, [0, 1, 4], [0, 2000, 5000])
    assert found[0] == pytest.approx(p * gamma / (q - 1))
    assert found[1] == pytest.approx(p * (gamma + 1 * 2000) / (p * 1 + q - 1))
    assert found[2] == pytest.approx(p * (gamma + 4 * 5000) / (p * 4 + q - 1))
    # Monetary of members without repeat purchases is ignored.
    assert clv.expected_spend(SPEND, [0], [123456])[0] == pytest.approx(found[0])
    # Many purchases: close to the member's own mean.
    assert clv.expected_spend(SPEND, [1000], [5000])[0] == pytest.approx(5000, rel=0.01)
    with pytest.raises(ValueError, match="no finite mean"):
        clv.expected_spend(GammaGamma(p=1, q=0.8, gamma=10), [1], [100])


def test_expected_purchases_match_the_simulated_future(members: Members) -> None:
    """The next 365 days of the generated members: predicted totals match what they did, over
    all members and by number of repeat purchases."""
    s = members
    expected = clv.expected_purchases(MODEL, 365, s.frequency, s.recency, s.age)
    assert expected.sum() == pytest.approx(s.future.sum(), rel=0.02)
    for low, high in ((0, 0), (1, 2), (3, 6), (7, 1000)):
        group = (s.frequency >= low) & (s.frequency <= high)
        assert expected[group].sum() == pytest.approx(s.future[group].sum(), rel=0.05), (low, high)
    # Probability alive against who was alive: those with P(alive) < 0.2 rarely buy again.
    alive = clv.probability_alive(MODEL, s.frequency, s.recency, s.age)
    assert np.all((alive > 0) & (alive <= 1))
    unlikely = alive < 0.2
    assert (s.future[unlikely] > 0).mean() < 0.2
