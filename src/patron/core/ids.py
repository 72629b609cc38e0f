"""Row ids: id columns are 32-bit integers, so an id a client sends is bounded before it reaches
a query (PostgreSQL raises DataError, SQLite OverflowError, beyond them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


def parse_row_id(text: str) -> int | None:
    """The row id written in `text` (ASCII digits, 1 up to MAX_ROW_ID), else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ROW_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None
