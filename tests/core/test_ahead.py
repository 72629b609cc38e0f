"""batches.ahead: items made on a thread of their own, in order, errors raised where taken."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from patron.core.batches import ahead


def test_items_come_in_order() -> None:
    with ahead(iter(range(50))) as items:
        assert list(items) == list(range(50))


def test_an_error_making_them_is_raised_where_they_are_taken() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise ValueError("bad row")

    with ahead(items()) as taken, pytest.raises(ValueError, match="bad row"):
        list(taken)


def test_the_thread_stops_when_the_block_ends_early() -> None:
    made: list[int] = []

    def items() -> Iterator[int]:
        for n in range(1000):
            made.append(n)
            yield n

    with pytest.raises(KeyError), ahead(items()) as taken:  # noqa: PT012 - the block's end
        next(taken)
        raise KeyError("stopped")
    assert len(made) < 10
    assert not [t for t in threading.enumerate() if t.name == "patron-ahead"]
