"""Largest-remainder allocation: the parts add up, each within a fen of its exact share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.core.money import allocate


@given(
    total=st.integers(0, 10**9),
    weights=st.lists(st.integers(0, 10**7), min_size=1, max_size=30).filter(any),
)
def test_parts_add_up_and_stay_within_a_fen(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert total * weight // whole <= part <= -(-total * weight // whole)


def test_ties_go_to_the_earlier_line() -> None:
    assert allocate(1, [1, 1, 1]) == [1, 0, 0]
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]


def test_no_weight_takes_nothing() -> None:
    assert allocate(0, [0, 0]) == [0, 0]
    with pytest.raises(ValueError, match="no weight"):
        allocate(5, [0, 0])
