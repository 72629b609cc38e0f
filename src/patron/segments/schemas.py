from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from patron.core.inputs import NOT_NULL, Input
from patron.core.text import (
    MULTI_LINE_PATTERN,
    Label,
    LabelOrNone,
    MultiLine,
    Pattern,
    multi_line,
)
from patron.segments.rules import MAX_RULE_LENGTH

MultiLineOrNone = Annotated[str | None, BeforeValidator(multi_line), Pattern(MULTI_LINE_PATTERN)]


class PreviewIn(Input):
    rule: Annotated[MultiLine, Field(max_length=MAX_RULE_LENGTH)]


class PreviewOut(BaseModel):
    count: int
    sample: list[int]  # the first member ids, in id order


class SegmentIn(Input):
    name: Label = Field(min_length=1, max_length=100)
    description: Label = Field(default="", max_length=200)
    rule: MultiLine = Field(min_length=1, max_length=MAX_RULE_LENGTH)


class SegmentUpdate(Input):
    name: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    description: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=200)
    rule: Annotated[MultiLineOrNone, NOT_NULL] = Field(
        default=None, min_length=1, max_length=MAX_RULE_LENGTH
    )


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str
    rule: str
    # Chain-wide callers: the count at the last refresh. Store-scoped callers: their stores'
    # members matching now (in a list: null, the stored count being chain-wide).
    member_count: int | None
    refreshed_at: datetime | None
    scoped: bool  # whether member_count is of the caller's stores only
    created_by: str
    created_at: datetime
    updated_at: datetime


class SegmentCountOut(BaseModel):
    counted_at: datetime
    member_count: int
