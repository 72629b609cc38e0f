from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from patron.catalog.models import ProductStatus
from patron.core.ids import RowId
from patron.core.inputs import Input
from patron.core.money import MAX_FEN
from patron.core.text import Name, NameOrNone, SingleLine

CATEGORY_CODE_LENGTH = 32  # the column's width; order lines bring codes of their own
Code = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
Sku = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}$")


class CategoryCreate(Input):
    code: SingleLine = Code
    name: Name = Field(min_length=1, max_length=100)
    parent_id: RowId | None = None


class CategoryUpdate(Input):
    name: NameOrNone = Field(default=None, min_length=1, max_length=100)
    parent_id: RowId | None = None


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    parent_id: int | None


class ProductCreate(Input):
    sku: SingleLine = Sku
    name: Name = Field(min_length=1, max_length=200)
    category_id: RowId | None = None
    list_price: int = Field(default=0, ge=0, le=MAX_FEN, description="fen")
    member_price: int | None = Field(default=None, ge=0, le=MAX_FEN, description="fen")
    status: ProductStatus = ProductStatus.active


class ProductUpdate(Input):
    name: NameOrNone = Field(default=None, min_length=1, max_length=200)
    category_id: RowId | None = None
    list_price: int | None = Field(default=None, ge=0, le=MAX_FEN)
    member_price: int | None = Field(default=None, ge=0, le=MAX_FEN)
    status: ProductStatus | None = None


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str
    category_id: int | None
    list_price: int
    member_price: int | None
    status: ProductStatus
    created_at: datetime
    updated_at: datetime


class ProductImportReport(BaseModel):
    dry_run: bool
    rows: int
    created: int
    updated: int
    skipped: int
    errors: list[dict[str, object]]
