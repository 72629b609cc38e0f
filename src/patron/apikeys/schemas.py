from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.text import Name


class ApiKeyCreate(Input):
    name: Name = Field(min_length=1, max_length=100)
    all_stores: bool = False
    store_ids: list[RowId] = Field(default_factory=list)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    all_stores: bool
    store_ids: list[int]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown once; Patron keeps only its hash.")
