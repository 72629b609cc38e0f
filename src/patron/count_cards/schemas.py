from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.money import MAX_FEN
from patron.core.reasons import Reason
from patron.core.text import Name, NameOrNone, SingleLine, SingleLineOrNone
from patron.orders.schemas import VerificationIn

MAX_USES = 10000
MAX_VALIDITY_DAYS = 3660


class CardStatus(StrEnum):
    """Derived, never stored: a card is void when the recharge it came with was refunded."""

    available = "available"
    used_up = "used_up"
    expired = "expired"
    void = "void"


class CardPaymentMethod(StrEnum):
    """How a card is paid: money from outside, or the member's stored value."""

    cash = "cash"
    bank_card = "bank_card"
    wechat_pay = "wechat_pay"
    alipay = "alipay"
    other = "other"
    stored_value = "stored_value"


class ProductIn(Input):
    name: Name = Field(min_length=1, max_length=100)
    service: SingleLine = Field(
        default="", max_length=100, description="the service each use gives"
    )
    uses: int = Field(gt=0, le=MAX_USES)
    validity_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VALIDITY_DAYS,
        description="days from sale, the day of sale being the first; ends 23:59:59 business "
        "time. null: never expires",
    )
    price: int = Field(ge=0, le=MAX_FEN, description="fen")
    active: bool = True


class ProductUpdate(Input):
    name: Annotated[NameOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    service: Annotated[SingleLineOrNone, NOT_NULL] = Field(default=None, max_length=100)
    uses: Annotated[int | None, NOT_NULL] = Field(default=None, gt=0, le=MAX_USES)
    validity_days: int | None = Field(default=None, ge=1, le=MAX_VALIDITY_DAYS)
    price: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=MAX_FEN)
    active: Annotated[bool | None, NOT_NULL] = None


# What a PATCH may leave out but never clear.
NOT_NULLABLE = ("name", "service", "uses", "price", "active")


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    service: str
    uses: int
    validity_days: int | None
    price: int
    active: bool


class CardPaymentIn(Input):
    method: CardPaymentMethod
    reference: SingleLine = Field(default="", max_length=100)
    verification: VerificationIn | None = Field(
        default=None, description="stored_value only: the member code or the payment password"
    )

    @model_validator(mode="after")
    def _verification_with_stored_value(self) -> CardPaymentIn:
        if self.verification is not None and self.method != CardPaymentMethod.stored_value:
            raise PydanticCustomError(
                Reason.verification_without_stored_value.value,
                "only a stored_value payment takes a verification",
            )
        return self


class SaleIn(Input):
    store_id: RowId | None = Field(description="where it is sold; null: online (HQ)")
    product_id: RowId
    payment: CardPaymentIn


class UseIn(Input):
    store_id: RowId


class UseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    card_id: int
    store_id: int
    staff: str
    used_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None


class CardOut(BaseModel):
    id: int
    member_id: int
    product_id: int
    product_name: str
    service: str
    uses: int
    uses_left: int
    valid_until: datetime | None
    status: CardStatus
    store_id: int | None
    price: int
    payment_method: str
    payment_reference: str
    recharge_id: int | None
    operator: str
    sold_at: datetime


class CardDetailOut(CardOut):
    history: list[UseOut] = Field(description="its uses, newest first, revoked ones included")


class UseResultOut(BaseModel):
    use: UseOut
    uses_left: int
