"""Coupon codes: 16 characters drawn uniformly from a cryptographic random source over 31 letters
and digits that cannot be misread (no 0/O, 1/I/L), about 79 bits. No prefix, no sequence: one
code tells nothing of any other. Generated in bulk at C speed: random bytes are mapped through a
translation table, and the bytes that would bias the draw (248-255, past 8 x 31) are dropped."""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 16
_USABLE = len(ALPHABET) * (256 // len(ALPHABET))  # 248: each letter stands for 8 byte values
_TABLE = bytes(ord(ALPHABET[b % len(ALPHABET)]) if b < _USABLE else 0 for b in range(256))
_DROPPED = bytes(range(_USABLE, 256))


def _letters(count: int) -> str:
    """`count` letters of ALPHABET, each drawn uniformly and independently."""
    found = b""
    while len(found) < count:
        wanted = count - len(found)
        # About 3% of bytes are dropped; draw a little more than needed so one round does.
        raw = secrets.token_bytes(wanted + wanted // 16 + 16)
        found += raw.translate(_TABLE, _DROPPED)
    return found[:count].decode("ascii")


def new_codes(count: int) -> list[str]:
    """`count` distinct fresh codes."""
    while True:
        letters = _letters(count * LENGTH)
        codes = [letters[i : i + LENGTH] for i in range(0, count * LENGTH, LENGTH)]
        if len(set(codes)) == count:
            return codes


def normalized(text: str) -> str:
    """A code as typed (lower case, spaces around it) as it is stored."""
    return text.strip().upper()


def looks_like_code(text: str) -> bool:
    """Whether `text` (normalized) could be a code at all: anything else needs no query."""
    return len(text) == LENGTH and all(ch in ALPHABET for ch in text)
