"""RFM scores and classes, and lifecycle stages, vectorised over one row per member.

RFM scores (1-5) are quintiles over the members with a purchase in the window, ties kept
together: a member's score is `1 + floor(5 * (rank - 1) / n)`, where `rank` is the 1-based rank
of the first of their ties in ascending order of the value and `n` the members scored (pandas'
`rank(method="min")`). R ranks the negated recency (days since the last purchase, business
days), so the most recent score high; F ranks orders in the window, M net spend in the window.
Each class compares each score with that dimension's mean score: strictly above is high."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class RfmClass(StrEnum):
    important_value = "important_value"  # 重要价值 R↑F↑M↑
    important_develop = "important_develop"  # 重要发展 R↑F↓M↑
    important_retain = "important_retain"  # 重要保持 R↓F↑M↑
    important_winback = "important_winback"  # 重要挽留 R↓F↓M↑
    general_value = "general_value"  # 一般价值 R↑F↑M↓
    general_develop = "general_develop"  # 一般发展 R↑F↓M↓
    general_retain = "general_retain"  # 一般保持 R↓F↑M↓
    general_winback = "general_winback"  # 一般挽留 R↓F↓M↓


class Lifecycle(StrEnum):
    prospect = "prospect"
    new = "new"
    active = "active"
    at_risk = "at_risk"
    dormant = "dormant"
    churned = "churned"


# Index = 4*M_high + 2*R_high + F_high.
_CLASSES = np.array(
    [
        RfmClass.general_winback.value,
        RfmClass.general_retain.value,
        RfmClass.general_develop.value,
        RfmClass.general_value.value,
        RfmClass.important_winback.value,
        RfmClass.important_retain.value,
        RfmClass.important_develop.value,
        RfmClass.important_value.value,
    ],
    dtype=object,
)


def quintile_scores(values: npt.ArrayLike) -> IntArray:
    """1-5 by the rank of the first of the value's ties (see the module's rule)."""
    array = np.asarray(values)
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first_rank = np.searchsorted(np.sort(array, kind="stable"), array, side="left")  # 0-based
    return (1 + (5 * first_rank) // n).astype(np.int64)


@dataclass(frozen=True)
class Rfm:
    r: IntArray
    f: IntArray
    m: IntArray
    classes: npt.NDArray[np.object_]


def rfm(recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> Rfm:
    r = quintile_scores(-np.asarray(recency_days, dtype=np.int64))
    f = quintile_scores(np.asarray(frequency, dtype=np.int64))
    m = quintile_scores(np.asarray(monetary, dtype=np.int64))
    if len(r) == 0:
        return Rfm(r, f, m, np.zeros(0, dtype=object))
    index = 4 * (m > m.mean()) + 2 * (r > r.mean()) + (f > f.mean())
    return Rfm(r, f, m, _CLASSES[index])


@dataclass(frozen=True)
class LifecycleRule:
    basis: str  # fixed | rhythm
    new_days: int
    at_risk_days: int
    dormant_days: int
    churned_days: int


RHYTHM = (2.0, 4.0, 8.0)  # at_risk, dormant, churned: multiples of the average gap
RHYTHM_FLOOR = (1, 2, 4)  # never sooner than these multiples of new_days


def lifecycle(
    rule: LifecycleRule,
    since_first: IntArray,
    recency: IntArray,
    purchase_days: IntArray,
    span_days: IntArray,
) -> npt.NDArray[np.object_]:
    """Each buying member's stage: `new` while the first purchase is under `new_days` old, then
    by days since the last purchase against the thresholds (fixed, or by rhythm: see
    `patron.core.settings`)."""
    n = len(recency)
    days = (rule.at_risk_days, rule.dormant_days, rule.churned_days)
    fixed = [np.full(n, float(d)) for d in days]
    thresholds = fixed
    if rule.basis == "rhythm":
        repeat = purchase_days > 1
        gap = np.where(repeat, span_days / np.maximum(purchase_days - 1, 1), 0.0)
        thresholds = [
            np.where(repeat, np.maximum(k * gap, floor * rule.new_days), f)
            for k, floor, f in zip(RHYTHM, RHYTHM_FLOOR, fixed, strict=True)
        ]
    stage = np.full(n, Lifecycle.active.value, dtype=object)
    stage[recency >= thresholds[0]] = Lifecycle.at_risk.value
    stage[recency >= thresholds[1]] = Lifecycle.dormant.value
    stage[recency >= thresholds[2]] = Lifecycle.churned.value
    stage[since_first < rule.new_days] = Lifecycle.new.value
    return stage
