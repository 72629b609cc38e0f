from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.text import Label, LabelOrNone, MultiLine, Name, NameOrNone, SingleLine
from patron.tags.models import TagKind

NAME_LENGTH = 64
DESCRIPTION_LENGTH = 200
RULE_LENGTH = 4000
# Members named in one bulk request; a longer list goes as a file.
BULK_MAX = 10_000


class NewTagKind(StrEnum):
    """What a request creates: `imported` tags are created by imports."""

    manual = TagKind.manual.value
    rule = TagKind.rule.value


TagName = Field(min_length=1, max_length=NAME_LENGTH, description="Trimmed; unique.")


class TagCreate(Input):
    name: Name = TagName
    kind: NewTagKind = NewTagKind.manual
    description: Label = Field(default="", max_length=DESCRIPTION_LENGTH)
    rule: MultiLine | None = Field(
        default=None,
        max_length=RULE_LENGTH,
        description="Rule tags only: a rule in the segment language, e.g. `frequency >= 3`.",
    )


class TagUpdate(Input):
    """Each field may be left out but not null. The kind stays what it was."""

    name: Annotated[NameOrNone, NOT_NULL] = Field(
        default=None, min_length=1, max_length=NAME_LENGTH
    )
    description: Annotated[LabelOrNone, NOT_NULL] = Field(
        default=None, max_length=DESCRIPTION_LENGTH
    )
    rule: Annotated[MultiLine | None, NOT_NULL] = Field(default=None, max_length=RULE_LENGTH)


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: TagKind
    description: str
    rule: str | None
    refreshed_at: datetime | None
    member_count: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class MemberTagIn(Input):
    """The tag by name or by id (exactly one). A name no tag has yet creates a manual tag, for
    the roles that manage tags."""

    tag: Name | None = Field(default=None, min_length=1, max_length=NAME_LENGTH)
    tag_id: RowId | None = None


class MemberTagOut(BaseModel):
    tag_id: int
    name: str
    kind: TagKind
    source: str
    added_by: str
    added_at: datetime


class MemberTagAdded(MemberTagOut):
    # False when the member had the tag already (adding twice changes nothing).
    added: bool


MemberRef = Annotated[SingleLine, Field(max_length=100)]


class BulkMembers(Input):
    members: list[MemberRef] = Field(
        min_length=1,
        max_length=BULK_MAX,
        description=(
            "Member references, one per entry: a member id, a mobile, a card number or a member"
            " code; `id:`, `mobile:`, `card:` or `code:` in front says which."
        ),
    )


class LineResult(BaseModel):
    line: int
    ref: str
    # added | already | not_found (bulk add); removed | absent | not_found (bulk remove);
    # in a file also refused (see `code`).
    status: str
    member_id: int | None = None
    tag: str | None = None
    code: str | None = None


class BulkResult(BaseModel):
    counts: dict[str, int]
    results: list[LineResult]


class ImportResult(BulkResult):
    # Tags the file named that did not exist: created as `imported` tags.
    created_tags: list[str]
