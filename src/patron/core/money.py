"""Money is an integer number of fen. Files written by people carry yuan ("12.50"); these
convert exactly, never through floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Money columns are 32-bit integers: ¥21,474,836.47 is the most one amount can be.
MAX_FEN = 2_147_483_647


def yuan_to_fen(text: str) -> int:
    """'12.5' -> 1250. ValueError for anything but a plain amount with at most two decimals."""
    try:
        amount = Decimal(text.strip().replace(",", "").removeprefix("¥"))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"not an amount in yuan with at most two decimals: {text!r}")
    return int(amount * 100)


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
