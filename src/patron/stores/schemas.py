from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from patron.core.text import Label, LabelOrNone, Name, NameOrNone, SingleLine, SingleLineOrNone
from patron.stores.models import StoreStatus, StoreType

StoreCode = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="e.g. SH001")
Phone = Field(default="", max_length=32, pattern=r"^[0-9+()\- ]*$")


class StoreCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: SingleLine = StoreCode
    name: Name = Field(min_length=1, max_length=100)
    type: StoreType
    city: Label = Field(default="", max_length=50)
    address: Label = Field(default="", max_length=200)
    phone: SingleLine = Phone
    status: StoreStatus = StoreStatus.open


class StoreUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NameOrNone = Field(default=None, min_length=1, max_length=100)
    type: StoreType | None = None
    city: LabelOrNone = Field(default=None, max_length=50)
    address: LabelOrNone = Field(default=None, max_length=200)
    phone: SingleLineOrNone = Field(default=None, max_length=32, pattern=r"^[0-9+()\- ]*$")
    status: StoreStatus | None = None


class StoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    type: StoreType
    city: str
    address: str
    phone: str
    status: StoreStatus
    created_at: datetime
    updated_at: datetime
