"""Customer lifetime value: BG/NBD for how often members buy, Gamma-Gamma for how much.

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while alive a member
buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each repeat purchase they drop
out for good with probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee 2005, the spend
model of "RFM and CLV: Using Iso-Value Curves"): each purchase's value is Gamma(p, nu) with
nu ~ Gamma(q, gamma), independent of the purchase process.

Time unit: days. Per member: `frequency` x = number of REPEAT purchase days (days with a purchase
after the first one), `recency` t_x = days from the first purchase to the last, `age` T = days from
the first purchase to now; `monetary` = mean value (fen) of the repeat purchase days.

Both fits are maximum likelihood over log-parameters with analytic gradients (L-BFGS-B, fixed
starting points, so deterministic). Everything is vectorised: identical (x, t_x, T) rows are
counted once with a weight, and the terms that depend on x alone are evaluated once per distinct x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

from patron.core.errors import Conflict

Array = npt.NDArray[np.float64]

MIN_REPEAT_CUSTOMERS = 10
_LOG_BOUND = 25.0  # parameters stay within exp(+-25)
_GRADIENT_TOLERANCE = 1e-4  # per-customer gradient norm still accepted when L-BFGS-B stops early


class ClvFitError(Conflict):
    code = "clv_fit_failed"
    title = "The CLV model could not be fitted"


class ClvNotEnoughData(ClvFitError):
    code = "clv_not_enough_data"
    title = "Too few members with repeat purchases to fit the CLV model"


@dataclass(frozen=True)
class BgNbd:
    """Purchase rate lambda ~ Gamma(shape r, rate alpha) per day; dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    """Purchase value ~ Gamma(shape p, rate nu) in fen; nu ~ Gamma(shape q, rate gamma)."""

    p: float
    q: float
    gamma: float


# ---------------------------------------------------------------------------------------------
# Inputs


def _floats(name: str, values: npt.ArrayLike) -> Array:
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: every value must be a finite number")
    if np.any(array < 0):
        raise ValueError(f"{name}: values cannot be negative")
    return array


def _rfm(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> tuple[Array, Array, Array]:
    x = _floats("frequency", frequency)
    t_x = _floats("recency", recency)
    t = _floats("age", age)
    if not x.shape == t_x.shape == t.shape:
        raise ValueError("frequency, recency and age must have the same length")
    if np.any(x != np.floor(x)):
        raise ValueError("frequency: a count of repeat purchase days, so whole numbers")
    if np.any(t_x > t):
        raise ValueError("recency cannot exceed age")
    return x, t_x, t


def _compress(x: Array, t_x: Array, t: Array) -> tuple[Array, Array, Array, Array]:
    """Distinct (x, t_x, T) rows and how many times each occurs. Whole days pack into one int64
    key (one 1-D sort); anything else is sorted on the three columns."""
    if x.size == 0:
        return x, t_x, t, np.ones(0)
    top = float(max(x.max(), t.max())) + 1.0
    whole = bool(np.all(t_x == np.floor(t_x)) and np.all(t == np.floor(t)))
    if whole and top**3 < 2.0**62:
        span = np.int64(top)
        key = (x.astype(np.int64) * span + t_x.astype(np.int64)) * span + t.astype(np.int64)
        unique, counts = np.unique(key, return_counts=True)
        t_u = unique % span
        rest = unique // span
        return (
            (rest // span).astype(np.float64),
            (rest % span).astype(np.float64),
            t_u.astype(np.float64),
            counts.astype(np.float64),
        )
    order = np.lexsort((t, t_x, x))
    xs, txs, ts = x[order], t_x[order], t[order]
    starts = np.flatnonzero(
        np.concatenate(([True], (np.diff(xs) != 0) | (np.diff(txs) != 0) | (np.diff(ts) != 0)))
    )
    counts = np.diff(np.append(starts, x.size)).astype(np.float64)
    return xs[starts], txs[starts], ts[starts], counts


def _dot(u: Array, v: Array) -> float:
    """Sum of products without BLAS: its threads spin for nothing on a busy machine (a fit took
    ten times longer with other processes on both cores)."""
    return float(np.einsum("i,i->", u, v))


def _by_value(values: Array, weights: Array) -> tuple[Array, Array, npt.NDArray[np.intp]]:
    """Distinct values, the total weight of each, and each row's index into them."""
    distinct, inverse = np.unique(values, return_inverse=True)
    totals = np.bincount(inverse, weights=weights, minlength=distinct.size).astype(np.float64)
    return distinct, totals, inverse


def _maximise(
    negative_mean_ll: Callable[[Array], tuple[float, Array]], start: Array, what: str
) -> Array:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * start.size
    result: Any = minimize(
        negative_mean_ll,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-8},
    )
    solution = np.asarray(result.x, dtype=np.float64)
    value, gradient = negative_mean_ll(solution)
    if not (np.isfinite(value) and np.all(np.isfinite(solution))):
        raise ClvFitError(f"the {what} likelihood did not converge")
    if not result.success and float(np.max(np.abs(gradient))) > _GRADIENT_TOLERANCE:
        raise ClvFitError(f"the {what} likelihood did not converge: {result.message}")
    return solution


# ---------------------------------------------------------------------------------------------
# BG/NBD


def fit_bgnbd(frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike) -> BgNbd:
    """Maximum likelihood BG/NBD parameters for these members (one entry per member)."""
    x, t_x, t = _rfm(frequency, recency, age)
    if int(np.count_nonzero(x > 0)) < MIN_REPEAT_CUSTOMERS:
        raise ClvNotEnoughData(
            f"{int(np.count_nonzero(x > 0))} members with repeat purchases; "
            f"at least {MIN_REPEAT_CUSTOMERS} are needed"
        )
    x, t_x, t, counts = _compress(x, t_x, t)
    n = float(counts.sum())

    zero = x == 0
    t0, c0 = t[zero], counts[zero]  # no repeat purchase: only A3 = -r ln(alpha + T)
    positive = ~zero
    x1, tx1, t1, c1 = x[positive], t_x[positive], t[positive], counts[positive]
    ux, nx, inverse = _by_value(x1, c1)  # terms in x alone, once per distinct x
    n_pos = float(c1.sum())

    def negative_mean_ll(log_params: Array) -> tuple[float, Array]:
        r, alpha, a, b = np.exp(log_params)
        log_alpha = np.log(alpha)
        # r ln alpha for every member; -ln G(r) + ln G(a+b) - ln G(b) for those who bought again
        # (for x = 0 they cancel with the x-only terms).
        ll = n * r * log_alpha + n_pos * (-gammaln(r) + gammaln(a + b) - gammaln(b))
        g_r = n * log_alpha - n_pos * digamma(r)
        g_alpha = n * r / alpha
        g_a = n_pos * digamma(a + b)
        g_b = n_pos * (digamma(a + b) - digamma(b))
        # Members without repeat purchases: -r ln(alpha + T).
        log_t0 = np.log(alpha + t0)
        ll -= r * _dot(c0, log_t0)
        g_r -= _dot(c0, log_t0)
        g_alpha -= r * _dot(c0, (1.0 / (alpha + t0)))
        # x-only terms of members with repeat purchases.
        ll += _dot(nx, (gammaln(r + ux) + gammaln(b + ux) - gammaln(a + b + ux)))
        g_r += _dot(nx, digamma(r + ux))
        psi_abx = digamma(a + b + ux)
        g_a -= _dot(nx, psi_abx)
        g_b += _dot(nx, (digamma(b + ux) - psi_abx))
        # Per distinct row: ln(exp(A3) + exp(A4)),
        # A3 = -(r+x) ln(alpha+T), A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x).
        rx = r + x1
        log_t = np.log(alpha + t1)
        log_tx = np.log(alpha + tx1)
        log_b = np.log(b + ux - 1.0)
        a3 = -rx * log_t
        a4 = np.log(a) - log_b[inverse] - rx * log_tx
        ll += _dot(c1, np.logaddexp(a3, a4))
        w4 = expit(a4 - a3)  # share of the "dropped out at t_x" branch
        w3 = 1.0 - w4
        g_r -= _dot(c1, (w3 * log_t + w4 * log_tx))
        g_alpha -= _dot(c1, (rx * (w3 / (alpha + t1) + w4 / (alpha + tx1))))
        cw4 = c1 * w4
        g_a += float(cw4.sum()) / a
        g_b -= _dot(cw4, (1.0 / (b + x1 - 1.0)))
        gradient = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return -ll / n, -gradient / n

    mean_x = float((x * counts).sum() / n)
    mean_t = float((t * counts).sum() / n)
    rate = max(mean_x, 0.01) / max(mean_t, 1.0)
    start = np.log(np.array([1.0, 1.0 / rate, 1.0, 3.0]))
    r, alpha, a, b = np.exp(_maximise(negative_mean_ll, start, "BG/NBD"))
    return BgNbd(r=float(r), alpha=float(alpha), a=float(a), b=float(b))


def _log_dropout_odds(model: BgNbd, x: Array, t_x: Array, t: Array) -> Array:
    """ln of a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x): the odds that a member who bought has
    already dropped out; -inf without repeat purchases (they cannot have)."""
    odds = np.full(x.shape, -np.inf)
    bought = x > 0
    xb = x[bought]
    odds[bought] = (
        np.log(model.a)
        - np.log(model.b + xb - 1.0)
        + (model.r + xb) * (np.log(model.alpha + t[bought]) - np.log(model.alpha + t_x[bought]))
    )
    return odds


def probability_alive(
    model: BgNbd, frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> Array:
    """P(still a customer at T | x, t_x, T); 1 for members without repeat purchases."""
    x, t_x, t = _rfm(frequency, recency, age)
    return np.asarray(expit(-_log_dropout_odds(model, x, t_x, t)), dtype=np.float64)


def expected_purchases(
    model: BgNbd,
    days: float,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> Array:
    """Expected purchases (purchase days) in the next `days` days, given x, t_x, T (FHL 2005,
    eq. 10). (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) is computed by Euler's transformation as
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays finite for large x."""
    x, t_x, t = _rfm(frequency, recency, age)
    if days < 0:
        raise ValueError("days cannot be negative")
    r, alpha, b = model.r, model.alpha, model.b
    # The limits at a = 1 and (for x = 0) at a + b = 1, numerically.
    a = model.a if abs(model.a - 1.0) > 1e-7 else 1.0 + 1e-7
    b = b if abs(a + b - 1.0) > 1e-7 else 1.0 - a + 1e-7
    z = days / (alpha + t + days)  # in [0, 1)
    tail = np.power(1.0 - z, a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    alive_part = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
    return np.asarray(alive_part * expit(-_log_dropout_odds(model, x, t_x, t)), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma


def fit_gamma_gamma(frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> GammaGamma:
    """Maximum likelihood Gamma-Gamma parameters. Only members with repeat purchases (x > 0) and
    a positive mean value take part; the others are ignored."""
    x = _floats("frequency", frequency)
    m = np.asarray(monetary, dtype=np.float64).ravel()
    if x.shape != m.shape:
        raise ValueError("frequency and monetary must have the same length")
    keep = (x > 0) & np.isfinite(m) & (m > 0)
    x, m = x[keep], m[keep]
    if x.size < MIN_REPEAT_CUSTOMERS:
        raise ClvNotEnoughData(
            f"{x.size} members with repeat purchases of positive value; "
            f"at least {MIN_REPEAT_CUSTOMERS} are needed"
        )
    n = float(x.size)
    ux, nx, _ = _by_value(x, np.ones_like(x))
    u = x * m
    log_m = np.log(m)
    sum_x_log_m = _dot(x, log_m)
    sum_log_m = float(log_m.sum())
    sum_x_log_x = _dot(x, np.log(x))

    def negative_mean_ll(log_params: Array) -> tuple[float, Array]:
        # ln L = ln G(px+q) - ln G(px) - ln G(q) + q ln gamma + (px-1) ln m + px ln x
        #        - (px+q) ln(gamma + m x)
        p, q, gamma = np.exp(log_params)
        px = p * ux
        log_g = np.log(gamma + u)
        sum_log_g = float(log_g.sum())
        sum_x_log_g = _dot(x, log_g)
        ll = (
            _dot(nx, (gammaln(px + q) - gammaln(px)))
            + n * (q * np.log(gamma) - gammaln(q))
            + p * sum_x_log_m
            - sum_log_m
            + p * sum_x_log_x
            - p * sum_x_log_g
            - q * sum_log_g
        )
        psi_pxq = digamma(px + q)
        g_p = _dot(nx, (ux * (psi_pxq - digamma(px)))) + sum_x_log_m + sum_x_log_x - sum_x_log_g
        g_q = _dot(nx, psi_pxq) - n * digamma(q) + n * np.log(gamma) - sum_log_g
        g_gamma = n * q / gamma - _dot((p * x + q), (1.0 / (gamma + u)))
        gradient = np.array([g_p * p, g_q * q, g_gamma * gamma])
        return -ll / n, -gradient / n

    start = np.log(np.array([1.0, 2.0, float(m.mean())]))
    p, q, gamma = np.exp(_maximise(negative_mean_ll, start, "Gamma-Gamma"))
    if q <= 1:
        raise ClvFitError(
            f"purchase values are too dispersed for the Gamma-Gamma model (q = {q:.3g} <= 1: "
            "no finite mean spend)"
        )
    return GammaGamma(p=float(p), q=float(q), gamma=float(gamma))


def expected_spend(model: GammaGamma, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> Array:
    """Expected value (fen) of a member's next purchase: p (gamma + x m) / (p x + q - 1), a
    weighted mean of the population mean p gamma / (q - 1) and the member's own mean m. Without
    repeat purchases (x = 0) it is the population mean (fitted models have q > 1)."""
    if model.q <= 1:
        raise ValueError("a Gamma-Gamma model with q <= 1 has no finite mean spend")
    x = _floats("frequency", frequency)
    m = np.asarray(monetary, dtype=np.float64).ravel()
    if x.shape != m.shape:
        raise ValueError("frequency and monetary must have the same length")
    p, q, gamma = model.p, model.q, model.gamma
    m = np.where(x > 0, m, 0.0)
    return np.asarray(p * (gamma + x * m) / (p * x + q - 1.0), dtype=np.float64)
