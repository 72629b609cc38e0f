from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from patron.core.actor import Role
from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.text import Label, LabelOrNone, Secret, SingleLine, SingleLineOrNone

Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
Password = Field(min_length=8, max_length=128)


class StaffCreate(Input):
    username: SingleLine = Username
    password: SingleLine = Password
    display_name: Label = Field(default="", max_length=100)
    role: Role
    all_stores: bool = False
    store_ids: list[RowId] = Field(default_factory=list)
    # A regional manager's regions (and no other role's): they see those regions' stores.
    region_ids: list[RowId] = Field(default_factory=list)


class StaffUpdate(Input):
    display_name: LabelOrNone = Field(default=None, max_length=100)
    role: Role | None = None
    all_stores: bool | None = None
    store_ids: list[RowId] | None = None
    region_ids: list[RowId] | None = None
    is_active: bool | None = None
    password: SingleLineOrNone = Field(default=None, min_length=8, max_length=128)


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    all_stores: bool
    store_ids: list[int]
    region_ids: list[int]
    is_active: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class LoginRequest(BaseModel):
    username: SingleLine = Field(min_length=1, max_length=64)
    password: Secret = Field(min_length=1, max_length=128)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class MeOut(BaseModel):
    kind: str
    id: int | None
    name: str
    role: Role
    all_stores: bool
    store_ids: list[int] | None
    region_ids: list[int] | None
