from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.moments import Moment
from patron.core.money import MAX_FEN
from patron.core.reasons import Reason
from patron.core.text import MultiLine, Name, SingleLine
from patron.stored_value.models import PackageStatus


class RechargeMethod(StrEnum):
    """How a recharge is paid: money from outside (never stored value, points or coupons)."""

    cash = "cash"
    bank_card = "bank_card"
    wechat_pay = "wechat_pay"
    alipay = "alipay"
    other = "other"


class PackageCouponIn(Input):
    template_id: RowId
    count: int = Field(ge=1, le=100)


class PackageCardIn(Input):
    product_id: RowId = Field(description="an active count-card product")
    count: int = Field(ge=1, le=100)


class PackageIn(Input):
    name: Name = Field(min_length=1, max_length=100)
    pay: int = Field(gt=0, le=MAX_FEN, description="fen paid, loaded as principal")
    bonus: int = Field(default=0, ge=0, le=MAX_FEN, description="fen given as bonus")
    coupons: list[PackageCouponIn] = Field(default_factory=list, max_length=20)
    count_cards: list[PackageCardIn] = Field(default_factory=list, max_length=20)
    points: int = Field(
        default=0, ge=0, le=MAX_FEN, description="points granted, available at once"
    )
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    per_member_limit: int | None = Field(default=None, ge=1)
    status: PackageStatus = PackageStatus.active


class PackageUpdate(Input):
    name: Annotated[Name | None, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    pay: Annotated[int | None, NOT_NULL] = Field(default=None, gt=0, le=MAX_FEN)
    bonus: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=MAX_FEN)
    coupons: Annotated[list[PackageCouponIn] | None, NOT_NULL] = Field(default=None, max_length=20)
    count_cards: Annotated[list[PackageCardIn] | None, NOT_NULL] = Field(
        default=None, max_length=20
    )
    points: Annotated[int | None, NOT_NULL] = Field(default=None, ge=0, le=MAX_FEN)
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    per_member_limit: int | None = Field(default=None, ge=1)
    status: Annotated[PackageStatus | None, NOT_NULL] = None


# What a PATCH may leave out but never clear.
NOT_NULLABLE = ("name", "pay", "bonus", "coupons", "count_cards", "points", "status")


class PackageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    pay: int
    bonus: int
    coupons: list[dict[str, Any]]
    count_cards: list[dict[str, Any]]
    points: int
    valid_from: datetime | None
    valid_until: datetime | None
    per_member_limit: int | None
    status: str


class RechargePaymentIn(Input):
    method: RechargeMethod
    reference: SingleLine = Field(default="", max_length=100)


class RealNameIn(Input):
    name: Name = Field(min_length=1, max_length=100)
    id_number: SingleLine = Field(min_length=6, max_length=32)


class RechargeIn(Input):
    store_id: RowId | None = Field(description="where it is paid; null: online (HQ)")
    amount: int | None = Field(default=None, gt=0, le=MAX_FEN, description="fen")
    package_id: RowId | None = None
    payment: RechargePaymentIn
    real_name: RealNameIn | None = None

    @model_validator(mode="after")
    def _amount_or_package(self) -> RechargeIn:
        if (self.amount is None) == (self.package_id is None):
            raise PydanticCustomError(
                Reason.amount_or_package.value, "give either amount or package_id"
            )
        return self


class RechargeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    store_id: int | None
    package_id: int | None
    principal: int
    bonus: int
    payment_method: str
    payment_reference: str
    status: str
    operator: str
    created_at: datetime
    refunded_at: datetime | None


class AccountRefundIn(Input):
    store_id: RowId | None = Field(default=None, description="where it is paid out; null: HQ")
    reason: MultiLine = Field(default="", max_length=200)


class BalanceOut(BaseModel):
    member_id: int
    principal: int
    bonus: int
    balance: int
    has_password: bool = Field(description="a payment password is set")
    locked_until: datetime | None = Field(
        description="stored-value payments are locked until then (failed verifications)"
    )


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    principal: int
    bonus: int
    store_id: int | None
    operator: str
    recharge_id: int | None
    order_id: int | None
    refund_id: int | None
    merge_partner_id: int | None
    reason: str
    created_at: datetime


# --- payment password ---------------------------------------------------------------------------


class PaymentPasswordIn(Input):
    password: str = Field(
        pattern=r"^[0-9]{6}$",
        description="6 digits; not all the same, not a straight run (123456, 987654): "
        "password_too_simple",
    )


# Settlement, liability and manual adjustments.


class FiguresOut(BaseModel):
    """Principal in fen."""

    recharged: int
    refunded: int
    spent: int = Field(description="less what order refunds put back")
    adjusted: int
    net: int = Field(description="recharged + adjusted − refunded − spent")


class SettlementRowOut(FiguresOut):
    store_id: int | None = Field(description="null: HQ (online recharges, movements at no store)")
    store_code: str | None
    store_name: str | None


class SettlementEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    kind: str
    principal: int
    store_id: int | None
    created_at: datetime
    order_id: int | None
    recharge_id: int | None
    refund_id: int | None
    operator: str
    reason: str


class SettlementOut(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    rows: list[SettlementRowOut]
    totals: FiguresOut
    entries: list[SettlementEntryOut] | None = Field(
        description="with store_id: the entries behind its figures, oldest first"
    )


class HoldingOut(BaseModel):
    principal: int
    bonus: int
    balance: int


class LiabilityRowOut(HoldingOut):
    store_id: int | None = Field(description="the store of recharge; null: online (HQ)")
    store_code: str | None
    store_name: str | None


class LiabilityOut(BaseModel):
    rows: list[LiabilityRowOut]
    unattributed: HoldingOut = Field(description="what no recharge explains")
    totals: HoldingOut


class AdjustmentIn(Input):
    store_id: RowId | None = Field(default=None, description="booked to this store; null: HQ")
    principal: int = Field(default=0, ge=-MAX_FEN, le=MAX_FEN, description="signed fen")
    bonus: int = Field(default=0, ge=-MAX_FEN, le=MAX_FEN, description="signed fen")
    reason: MultiLine = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _moves_something(self) -> AdjustmentIn:
        if not self.principal and not self.bonus:
            raise PydanticCustomError(
                Reason.zero_adjustment.value, "adjust principal, bonus or both"
            )
        return self
