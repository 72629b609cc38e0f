from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from patron.core.inputs import Input
from patron.stores.models import StoreStatus, StoreType

StoreCode = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="e.g. SH001")
PHONE = r"^[0-9+()\- ]*$"
Phone = Field(default="", max_length=32, pattern=PHONE)


class StoreCreate(Input):
    code: str = StoreCode
    name: str = Field(min_length=1, max_length=100)
    type: StoreType
    city: str = Field(default="", max_length=50)
    address: str = Field(default="", max_length=200)
    phone: str = Phone
    status: StoreStatus = StoreStatus.open


class StoreUpdate(Input):
    """Each field may be left out but not null: SkipJsonSchema keeps null out of the schema."""

    name: Annotated[str, Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = None
    type: StoreType | SkipJsonSchema[None] = None
    city: Annotated[str, Field(max_length=50)] | SkipJsonSchema[None] = None
    address: Annotated[str, Field(max_length=200)] | SkipJsonSchema[None] = None
    phone: Annotated[str, Field(max_length=32, pattern=PHONE)] | SkipJsonSchema[None] = None
    status: StoreStatus | SkipJsonSchema[None] = None


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
