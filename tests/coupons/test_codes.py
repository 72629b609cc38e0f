from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from patron.coupons import codes


def test_the_alphabet_has_no_characters_people_misread() -> None:
    assert set(codes.ALPHABET).isdisjoint("01OILoil")
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) == 31


@given(st.integers(min_value=1, max_value=300))
def test_codes_are_sixteen_letters_of_the_alphabet_and_distinct(count: int) -> None:
    made = codes.new_codes(count)
    assert len(made) == len(set(made)) == count
    assert all(len(code) == 16 and set(code) <= set(codes.ALPHABET) for code in made)
    assert all(codes.looks_like_code(code) for code in made)


def test_every_letter_is_drawn_about_equally_often() -> None:
    letters = Counter("".join(codes.new_codes(20_000)))  # 320,000 letters, ~10,323 each
    assert set(letters) == set(codes.ALPHABET)
    assert max(letters.values()) / min(letters.values()) < 1.1


def test_consecutive_codes_share_no_prefix_or_sequence() -> None:
    made = codes.new_codes(1000)
    assert len({code[:4] for code in made}) > 900
    assert made != sorted(made)


def test_a_code_is_read_as_typed() -> None:
    assert codes.normalized("  abcd2345efgh6789 ") == "ABCD2345EFGH6789"
    assert not codes.looks_like_code("ABCD2345EFGH678O")
