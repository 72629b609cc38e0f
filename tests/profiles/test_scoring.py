"""RFM scores and classes against an independent pandas computation, and lifecycle stages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.profiles.scoring import LifecycleRule, lifecycle, quintile_scores, rfm

NAMES = {
    (True, True, True): "important_value",
    (True, False, True): "important_develop",
    (False, True, True): "important_retain",
    (False, False, True): "important_winback",
    (True, True, False): "general_value",
    (True, False, False): "general_develop",
    (False, True, False): "general_retain",
    (False, False, False): "general_winback",
}


def pandas_rfm(frame: pd.DataFrame) -> pd.DataFrame:
    n = len(frame)

    def score(values: pd.Series) -> pd.Series:
        rank = values.rank(method="min")  # the first of the ties, 1-based
        return (1 + np.floor(5 * (rank - 1) / n)).astype(int)

    out = pd.DataFrame(
        {
            "r": score(-frame["recency"]),
            "f": score(frame["frequency"]),
            "m": score(frame["monetary"]),
        }
    )
    high = out.gt(out.mean())
    out["class"] = [NAMES[(r, f, m)] for r, f, m in zip(high.r, high.f, high.m, strict=True)]
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rfm_matches_pandas_on_generated_members(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    frame = pd.DataFrame(
        {
            "recency": rng.integers(0, 365, n),
            "frequency": rng.geometric(0.4, n),  # many ties
            "monetary": rng.gamma(2.0, 8000, n).astype(int),
        }
    )
    ours = rfm(frame.recency.to_numpy(), frame.frequency.to_numpy(), frame.monetary.to_numpy())
    expected = pandas_rfm(frame)
    assert (ours.r == expected.r.to_numpy()).all()
    assert (ours.f == expected.f.to_numpy()).all()
    assert (ours.m == expected.m.to_numpy()).all()
    assert list(ours.classes) == list(expected["class"])
    assert set(np.unique(ours.m)) == {1, 2, 3, 4, 5}


def test_ties_share_a_score_and_recent_scores_high() -> None:
    assert quintile_scores([5, 5, 5, 5, 5]).tolist() == [1] * 5
    assert quintile_scores([1, 2, 3, 4, 5]).tolist() == [1, 2, 3, 4, 5]
    assert quintile_scores([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]).tolist() == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]
    result = rfm([1, 300], [3, 1], [9000, 100])
    assert result.r.tolist() == [3, 1]
    assert result.classes.tolist() == [
        "important_value",
        "general_winback",
    ]
    assert rfm([], [], []).classes.size == 0


FIXED = LifecycleRule("fixed", 30, 90, 180, 365)
RHYTHM = LifecycleRule("rhythm", 30, 90, 180, 365)


def stages(rule: LifecycleRule, rows: list[tuple[int, int, int, int]]) -> list[str]:
    since_first, recency, days, span = (
        np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)
    )
    return lifecycle(rule, since_first, recency, days, span).tolist()


def test_lifecycle_fixed_days() -> None:
    rows = [
        (10, 10, 1, 0),
        (100, 89, 2, 11),
        (100, 90, 2, 10),
        (400, 180, 3, 220),
        (900, 365, 2, 1),
    ]
    assert stages(FIXED, rows) == ["new", "active", "at_risk", "dormant", "churned"]


def test_lifecycle_by_rhythm() -> None:
    # A weekly buyer (gap 7): at risk after 30 days (the floor), dormant after 60, churned 120.
    weekly = [(400, 29, 50, 343), (400, 30, 50, 343), (400, 60, 50, 343), (400, 120, 50, 343)]
    assert stages(RHYTHM, weekly) == ["active", "at_risk", "dormant", "churned"]
    # A yearly buyer (gap 365) is still active after 200 days; one purchase day: fixed days.
    assert stages(RHYTHM, [(1000, 200, 3, 730), (400, 200, 1, 0)]) == ["active", "dormant"]
