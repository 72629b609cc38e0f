from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base


class OrderChannel(StrEnum):
    pos = "pos"
    online_mall = "online_mall"
    mini_program = "mini_program"
    delivery = "delivery"


class PaymentMethod(StrEnum):
    cash = "cash"
    bank_card = "bank_card"
    wechat_pay = "wechat_pay"
    alipay = "alipay"
    stored_value = "stored_value"
    points = "points"
    coupon = "coupon"
    other = "other"


class OrderStatus(StrEnum):
    completed = "completed"
    partially_refunded = "partially_refunded"
    refunded = "refunded"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        # INCLUDE (PostgreSQL; SQLite ignores it): the profiles refresh reads a member's counted
        # orders in order from the index alone.
        Index(
            "ix_orders_member_occurred",
            "member_id",
            "occurred_at",
            postgresql_include=["total", "refunded_amount", "status", "store_id", "channel"],
        ),
        Index("ix_orders_store_occurred", "store_id", "occurred_at"),
        # The members' spend sums read the orders of a few hours or days at the year's ends.
        Index("ix_orders_occurred", "occurred_at"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= total", name="refund_within_total"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    occurred_at: Mapped[datetime]
    total: Mapped[int]  # fen: the sum of line paid amounts, and of payments
    refunded_amount: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(24), default=OrderStatus.completed.value)
    # the tier whose discount the order got, and that discount in fen (inside the lines' discounts)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    tier_discount_amount: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity",
            name="refund_within_quantity",
        ),
        # Segment rules and the profiles refresh read a category's lines in a window from this
        # index alone (INCLUDE on PostgreSQL; SQLite ignores it). Its prefix serves what the
        # former index on category_id alone did.
        Index(
            "ix_order_lines_category_occurred",
            "category_id",
            "occurred_at",
            postgresql_include=["member_id", "paid", "refunded_amount"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_no: Mapped[int]
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    # Copies of the order's member and time, so that lines are read without joining orders;
    # whoever writes or moves an order's member_id writes its lines' too. No foreign key: the
    # order's covers it, and a key check per line would cost the order path.
    member_id: Mapped[int | None]
    occurred_at: Mapped[datetime]
    quantity: Mapped[int]
    unit_price: Mapped[int]
    discount: Mapped[int] = mapped_column(default=0)
    paid: Mapped[int]
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    refunded_amount: Mapped[int] = mapped_column(default=0)
    # Inside `discount`: fen the member's tier discount or member price took off this line.
    tier_discount: Mapped[int] = mapped_column(server_default="0")
    # What paid this line's `paid` besides external money: points drawn (their fen are a
    # `points` payment) and fen of stored value. A refund of the line gives back its share.
    points: Mapped[int] = mapped_column(server_default="0")
    stored_value: Mapped[int] = mapped_column(server_default="0")


class OrderPayment(Base):
    __tablename__ = "order_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int]
    reference: Mapped[str] = mapped_column(String(100), default="")


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RefundLine(Base):
    __tablename__ = "refund_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    quantity: Mapped[int]
    amount: Mapped[int]


class MemberSpend(Base):
    """A member's net spend (`total - refunded_amount`, fen) and counted orders (not `refunded`),
    over all time and over the year before `MemberSpendYear.until`, as of the last fold
    (`orders.spend`). Triggers on `orders` (migration 0026) append every change to
    `MemberSpendChange`, and make a member's row (zeros) at their first order; the fold adds the
    changes in. No foreign key: a merge moves orders, not rows."""

    __tablename__ = "member_spend"

    member_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    spent: Mapped[int] = mapped_column(BigInteger)
    orders: Mapped[int]
    year_spent: Mapped[int] = mapped_column(BigInteger)
    year_orders: Mapped[int]


class MemberSpendChange(Base):
    """What a write to `orders` changed for a member, at the order's time: the triggers' rows
    (an update gives the old values negated and the new ones), folded in and deleted by the fold."""

    __tablename__ = "member_spend_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    member_id: Mapped[int]
    occurred_at: Mapped[datetime]
    spent: Mapped[int] = mapped_column(BigInteger)
    orders: Mapped[int]


class MemberSpendYear(Base):
    """One row: the end of the year `MemberSpend.year_*` covers (`until - 365 days <= occurred_at
    < until`); NULL until the first fold has built the sums."""

    __tablename__ = "member_spend_year"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    until: Mapped[datetime | None]
