"""Money is an integer number of fen. Files written by people carry yuan ("12.50"); these
convert exactly, never through floats."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

# Money columns are 32-bit integers: ¥21,474,836.47 is the most one amount can be.
MAX_FEN = 2_147_483_647
# Beyond this no integer column holds the amount; callers check MAX_FEN themselves, with their
# own message, but "1e999999" must not reach the arithmetic (decimal.Overflow, or a
# million-digit int).
_LIMIT_YUAN = Decimal(2**63 - 1) / 100


def yuan_to_fen(text: str) -> int:
    """'12.5' -> 1250. ValueError for anything but a plain, finite amount with at most two
    decimals that an integer column could hold."""
    try:
        amount = Decimal(text.strip().replace(",", "").removeprefix("¥"))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"not an amount in yuan with at most two decimals: {text!r}")
    if amount.copy_abs() > _LIMIT_YUAN:
        raise ValueError(f"out of range: {text[:40]!r}")
    return int(amount * 100)


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """`total` fen split over `weights` in proportion, by largest remainder: the parts add up to
    `total` exactly, each within one fen of its exact share (ties go to the earlier weight).
    Weights are not negative; all-zero weights take nothing (total must then be 0)."""
    whole = sum(weights)
    if whole == 0:
        if total:
            raise ValueError(f"cannot allocate {total} over no weight")
        return [0] * len(weights)
    parts = [total * w // whole for w in weights]
    short = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:short]:
        parts[i] += 1
    return parts
