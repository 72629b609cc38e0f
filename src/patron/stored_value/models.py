"""Stored value (储值): each member's account of principal (本金) and bonus (赠送), its ledger,
recharges and recharge packages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.crypto import EncryptedString
from patron.core.db import Base, Timestamped


class StoredValueAccount(Base):
    """Cached balances, equal to the sums of the member's entries (`patron stored-value verify`),
    and the payment password with its lock-out."""

    __tablename__ = "stored_value_accounts"
    __table_args__ = (
        CheckConstraint("principal >= 0", name="principal_not_negative"),
        CheckConstraint("bonus >= 0", name="bonus_not_negative"),
    )

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    principal: Mapped[int] = mapped_column(default=0)  # fen
    bonus: Mapped[int] = mapped_column(default=0)  # fen
    password_hash: Mapped[str | None] = mapped_column(String(200))  # 6-digit payment password
    failed_verifications: Mapped[int] = mapped_column(default=0)  # in a row
    locked_until: Mapped[datetime | None]
    # the TOTP step of the last member code that verified here: each code is taken once
    last_code_step: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class EntryKind(StrEnum):
    recharge = "recharge"  # principal paid in
    bonus = "bonus"  # bonus given with a recharge
    spend = "spend"
    spend_reversal = "spend_reversal"  # an order refund puts back what the order took
    refund = "refund"  # an account or recharge refund: money out, bonus taken back
    adjust = "adjust"
    merge_in = "merge_in"
    merge_out = "merge_out"


class StoredValueEntry(Base):
    """The ledger: a member's principal and bonus are the sums of their entries."""

    __tablename__ = "stored_value_entries"
    __table_args__ = (
        Index("ix_stored_value_entries_member", "member_id", "id"),
        Index("ix_stored_value_entries_store_created", "store_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(16))
    principal: Mapped[int]  # signed fen
    bonus: Mapped[int]  # signed fen
    # the store the money moved at; None: HQ (online recharges belong to HQ)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    operator: Mapped[str] = mapped_column(String(100))
    recharge_id: Mapped[int | None] = mapped_column(ForeignKey("stored_value_recharges.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    # a count card bought with stored value
    count_card_id: Mapped[int | None] = mapped_column(ForeignKey("count_cards.id"))
    merge_partner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PackageStatus(StrEnum):
    active = "active"
    inactive = "inactive"


class RechargePackage(Timestamped, Base):
    """Pay `pay`, receive pay + bonus (充500送50), optionally coupons, points and count cards."""

    __tablename__ = "recharge_packages"
    __table_args__ = (
        CheckConstraint("pay > 0", name="pay_positive"),
        CheckConstraint("bonus >= 0", name="bonus_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    pay: Mapped[int]  # fen
    bonus: Mapped[int] = mapped_column(default=0)  # fen
    # [{"template_id": 3, "count": 2}]
    coupons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    points: Mapped[int] = mapped_column(default=0)
    # [{"product_id": 1, "count": 1}]
    count_cards: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    per_member_limit: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default=PackageStatus.active.value)


class RechargeStatus(StrEnum):
    completed = "completed"
    refunded = "refunded"  # in the cooling-off period, in full, its bonus taken back


class Recharge(Base):
    __tablename__ = "stored_value_recharges"
    __table_args__ = (
        Index("ix_stored_value_recharges_member", "member_id", "created_at"),
        CheckConstraint("principal > 0", name="principal_positive"),
        CheckConstraint("bonus >= 0", name="bonus_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))  # None: online (HQ)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("recharge_packages.id"))
    principal: Mapped[int]
    bonus: Mapped[int] = mapped_column(default=0)
    payment_method: Mapped[str] = mapped_column(String(16))
    payment_reference: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default=RechargeStatus.completed.value)
    # real-name details for a large recharge, encrypted like other PII (core/crypto)
    real_name: Mapped[str | None] = mapped_column(EncryptedString)
    id_number: Mapped[str | None] = mapped_column(EncryptedString)
    operator: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    refunded_at: Mapped[datetime | None]
