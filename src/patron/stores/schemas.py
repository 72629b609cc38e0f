from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from patron.core.ids import RowId
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
    region_id: int | None
    created_at: datetime
    updated_at: datetime


REGION_CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class RegionCreate(Input):
    code: SingleLine = Field(pattern=REGION_CODE, description="e.g. EAST")
    name: Name = Field(min_length=1, max_length=100)
    # Stores in another region move to this one.
    store_ids: list[RowId] = Field(default_factory=list)


class RegionUpdate(Input):
    """Each field may be left out but not null; the stores are set with `RegionStores`."""

    code: Annotated[SingleLineOrNone, NOT_NULL] = Field(default=None, pattern=REGION_CODE)
    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)


class RegionStores(Input):
    """All of a region's stores: those left out leave it, those in another region move here."""

    store_ids: list[RowId]


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    store_ids: list[int]
    created_at: datetime
    updated_at: datetime
