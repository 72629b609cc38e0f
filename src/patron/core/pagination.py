"""Cursor pagination over a monotonically increasing integer key (newest first)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from patron.core.errors import InvalidInput
from patron.core.ids import parse_row_id
from patron.core.reasons import Reason

T = TypeVar("T")
MAX_LIMIT = 200


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The row id a cursor from `encode_cursor` carries; anything else, an id beyond the id
    columns' range included, is refused before it reaches a query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidInput(
            "cursor", "not a cursor this API issued", code=Reason.bad_cursor
        ) from exc
    kind, _, value = raw.partition(":")
    last_id = parse_row_id(value) if kind == "id" else None
    if last_id is None:
        raise InvalidInput("cursor", "not a cursor this API issued", code=Reason.bad_cursor)
    return last_id


@dataclass
class PageResult(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def paginate(
    session: Session,
    query: Select[Any],
    key: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
) -> PageResult[Any]:
    """Rows of `query` newest first by `key`, starting after `cursor`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}", code=Reason.out_of_range)
    if cursor:
        query = query.where(key < decode_cursor(cursor))
    rows = session.scalars(query.order_by(key.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return PageResult(rows, encode_cursor(getattr(rows[-1], key.key)) if more else None)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
