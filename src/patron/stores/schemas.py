from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from patron.core.inputs import Input
from patron.stores.models import StoreStatus, StoreType

StoreCode = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="e.g. SH001")
Phone = Field(default="", max_length=32, pattern=r"^[0-9+()\- ]*$")


class StoreCreate(Input):
    code: str = StoreCode
    name: str = Field(min_length=1, max_length=100)
    type: StoreType
    city: str = Field(default="", max_length=50)
    address: str = Field(default="", max_length=200)
    phone: str = Phone
    status: StoreStatus = StoreStatus.open


class StoreUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    type: StoreType | None = None
    city: str | None = Field(default=None, max_length=50)
    address: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+()\- ]*$")
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
