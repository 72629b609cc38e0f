"""Members generated from known BG/NBD and Gamma-Gamma parameters, vectorised (tests and bench).

BG/NBD: each member's rate lambda ~ Gamma(r, rate alpha) and dropout probability p ~ Beta(a, b);
after each repeat purchase they drop out with probability p, so their lifetime holds K ~
Geometric(p) repeat purchases. Without dropout the purchases in (0, T] are N ~ Poisson(lambda T);
observed x = min(N, K), and the x-th of N uniform purchase times on (0, T] is T Beta(x, N - x + 1).
Gamma-Gamma: nu ~ Gamma(q, rate gamma); the mean of x values Gamma(p, rate nu) is Gamma(p x, rate
nu x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

# CDNOW estimates (weeks, dollars) of Fader, Hardie & Lee, rescaled to days and fen.
TRUE_R, TRUE_ALPHA, TRUE_A, TRUE_B = 0.24, 4.41 * 7, 0.79, 2.43
TRUE_P, TRUE_Q, TRUE_GAMMA = 6.25, 3.74, 15.44 * 100


@dataclass(frozen=True)
class Members:
    frequency: Array
    recency: Array
    age: Array
    monetary: Array  # mean value of the repeat purchases (fen); 0 without repeat purchases
    future: Array  # purchases in the `future_days` after now


def simulate(
    n: int,
    *,
    seed: int = 17,
    r: float = TRUE_R,
    alpha: float = TRUE_ALPHA,
    a: float = TRUE_A,
    b: float = TRUE_B,
    p: float = TRUE_P,
    q: float = TRUE_Q,
    gamma: float = TRUE_GAMMA,
    max_age: float = 3 * 365,
    min_age: float = 1.0,
    whole_days: bool = False,
    future_days: float = 365.0,
) -> Members:
    """`n` members whose first purchase is spread uniformly over the last `max_age` days.
    With `whole_days`, ages and recencies are floored to days (purchases at a day's precision).
    `future` counts each member's purchases in the next `future_days`: alive at T when N < K,
    then min(Poisson(lambda t), K - N) by the memorylessness of both processes."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(min_age, max_age, n)
    rate = rng.gamma(r, 1.0 / alpha, n)
    dropout = rng.beta(a, b, n)
    lifetime_purchases = rng.geometric(dropout)  # drops out after the K-th repeat purchase
    possible = rng.poisson(rate * age)
    frequency = np.minimum(possible, lifetime_purchases)
    bought = frequency > 0
    recency = np.zeros(n)
    recency[bought] = age[bought] * rng.beta(
        frequency[bought], possible[bought] - frequency[bought] + 1
    )
    alive = possible < lifetime_purchases
    future = np.where(
        alive, np.minimum(rng.poisson(rate * future_days), lifetime_purchases - possible), 0
    )
    if whole_days:
        age = np.floor(age)
        recency = np.minimum(np.floor(recency), age)
    nu = rng.gamma(q, 1.0 / gamma, n)
    monetary = np.zeros(n)
    x_b = frequency[bought]
    monetary[bought] = rng.gamma(p * x_b, 1.0 / (nu[bought] * x_b))
    return Members(frequency.astype(np.float64), recency, age, monetary, future.astype(np.float64))
