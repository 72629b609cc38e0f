from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from patron.core.inputs import NOT_NULL, Input
from patron.core.text import Label, LabelOrNone, Name, NameOrNone, SingleLine, SingleLineOrNone
from patron.stores.models import StoreStatus, StoreType

StoreCode = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="e.g. SH001")
PHONE = r"^[0-9+()\- ]*$"
Phone = Field(default="", max_length=32, pattern=PHONE)


class StoreCreate(Input):
    code: SingleLine = StoreCode
    name: Name = Field(min_length=1, max_length=100)
    type: StoreType
    city: Label = Field(default="", max_length=50)
    address: Label = Field(default="", max_length=200)
    phone: SingleLine = Phone
    status: StoreStatus = StoreStatus.open


class StoreUpdate(Input):
    """Each field may be left out but not null."""

    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    type: Annotated[StoreType | None, NOT_NULL] = None
    city: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=50)
    address: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=200)
    phone: Annotated[SingleLineOrNone, NOT_NULL] = Field(default=None, max_length=32, pattern=PHONE)
    status: Annotated[StoreStatus | None, NOT_NULL] = None


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
