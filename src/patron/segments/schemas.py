from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from patron.core.inputs import Input
from patron.core.text import MultiLine
from patron.segments.rules import MAX_RULE_LENGTH


class PreviewIn(Input):
    rule: Annotated[MultiLine, Field(max_length=MAX_RULE_LENGTH)]


class PreviewOut(BaseModel):
    count: int
    sample: list[int]  # the first member ids, in id order
