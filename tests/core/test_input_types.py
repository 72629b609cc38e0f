"""Body validation skips the JSON-type check only for fields where it could refuse nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import AwareDatetime, Field

from patron.core.inputs import fits, takes_any_json_type


@pytest.mark.parametrize(
    "annotation",
    [str, str | None, list[str], dict[str, str], Annotated[str, Field(max_length=3)]],
)
def test_text_fields_take_any_json_type(annotation: Any) -> None:
    assert takes_any_json_type(annotation)
    assert all(fits(annotation, value) for value in ("x", 1, True, None, [1], {"a": 1}))


@pytest.mark.parametrize(
    "annotation",
    [int, bool, Decimal, date, AwareDatetime, int | None, list[int], Annotated[int, Field(ge=1)]],
)
def test_number_boolean_and_time_fields_are_checked(annotation: Any) -> None:
    assert not takes_any_json_type(annotation)
