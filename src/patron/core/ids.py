"""Row ids: id columns are 32-bit integers, so an id a client sends is bounded before it reaches
a query (PostgreSQL raises DataError, SQLite OverflowError, beyond them)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi._compat import ModelField
from fastapi.routing import APIRoute, RouteContext
from pydantic import Field

MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


def parse_row_id(text: str) -> int | None:
    """The row id written in `text` (ASCII digits, 1 up to MAX_ROW_ID), else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ROW_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


def row_ids(route: APIRoute | RouteContext) -> Iterator[ModelField]:
    """The path and query parameters of a route (and of its dependencies) naming a row: `*_id`
    integers, optional or not. `app.bounded_ids` bounds them, the OpenAPI document says so."""
    dependants = [route.dependant]
    while dependants:
        dependant = dependants.pop()
        dependants += dependant.dependencies
        for field in (*dependant.path_params, *dependant.query_params):
            if field.name.endswith("_id") and _is_int(field.field_info.annotation):
                yield field


def _is_int(annotation: Any) -> bool:
    """`int` or `int | None`."""
    if get_origin(annotation) in (Union, types.UnionType):
        return set(get_args(annotation)) == {int, type(None)}
    return annotation is int
