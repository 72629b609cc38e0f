"""Daily facts: what the dashboards read instead of scanning raw orders and ledgers.

Derived data, rebuilt by `patron.reports.facts` from the orders, points and stored value,
whole business days at a time (registrations are counted from the members, indexed by time).
No foreign keys: `store_id` 0 stands for "no store" (HQ's adjustments). Money in fen, days in
business time."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base

NO_STORE = 0


class SalesDayFacts(Base):
    """Per business day, store and order channel: the orders that count and the refunds."""

    __tablename__ = "sales_day_facts"

    day: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    orders: Mapped[int] = mapped_column(server_default="0")
    sales: Mapped[int] = mapped_column(server_default="0")  # totals of orders placed that day
    refunded: Mapped[int] = mapped_column(server_default="0")  # refunds made that day
    member_orders: Mapped[int] = mapped_column(server_default="0")
    member_sales: Mapped[int] = mapped_column(server_default="0")
    member_refunded: Mapped[int] = mapped_column(server_default="0")


class LedgerDayFacts(Base):
    """Per business day and store: what moved in the points and stored-value ledgers."""

    __tablename__ = "ledger_day_facts"

    day: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(primary_key=True)
    # Points, net of their reversals: earned (orders and grants, less what refunds took back),
    # burned (less what refunds gave back), expired, and the rest (adjustments, debt), signed.
    points_earned: Mapped[int] = mapped_column(server_default="0")
    points_burned: Mapped[int] = mapped_column(server_default="0")
    points_expired: Mapped[int] = mapped_column(server_default="0")
    points_adjusted: Mapped[int] = mapped_column(server_default="0")
    # Stored value in fen: principal paid in, bonus given, spent on orders (principal and
    # bonus, less what refunds put back), paid back out by refunds; adjustments signed.
    sv_recharged: Mapped[int] = mapped_column(server_default="0")
    sv_bonus: Mapped[int] = mapped_column(server_default="0")
    sv_spent: Mapped[int] = mapped_column(server_default="0")
    sv_refunded: Mapped[int] = mapped_column(server_default="0")
    sv_adjusted: Mapped[int] = mapped_column(server_default="0")


class MemberDayFacts(Base):
    """Per business day, member, store and channel: the member's orders that count, net of
    their refunds so far (a later refund rewrites the order's day)."""

    __tablename__ = "member_day_facts"
    __table_args__ = (
        Index("ix_member_day_facts_member_day", "member_id", "day"),
        # One store's (or a few stores') facts of a period without reading the others'.
        Index("ix_member_day_facts_store_day", "store_id", "day", "member_id"),
    )

    day: Mapped[date] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    orders: Mapped[int] = mapped_column(server_default="0")
    net_sales: Mapped[int] = mapped_column(server_default="0")


class MemberDay(Base):
    """Per business day and member, across stores and channels: a day the member bought (an
    order that counts), linked to the member's previous and next such day. The buyers of any
    period are then the period's rows with no previous day in it, and its repeat buyers those
    of them whose next day is in it too: counts over the period's rows, not per member. The
    same per calendar month, from whether the day is the member's first and last of its month."""

    __tablename__ = "member_days"
    __table_args__ = (Index("ix_member_days_member_day", "member_id", "day"),)

    day: Mapped[date] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(primary_key=True)
    previous_day: Mapped[date | None]
    next_day: Mapped[date | None]
    first_in_month: Mapped[bool]
    last_in_month: Mapped[bool]


class MemberStoreDay(Base):
    """Per business day, member and store, across channels: `MemberDay` at one store (the
    member's previous and next day of purchase there), for a store's own buyers."""

    __tablename__ = "member_store_days"
    __table_args__ = (
        Index("ix_member_store_days_store_day", "store_id", "day"),
        Index("ix_member_store_days_member_day", "member_id", "day"),
    )

    day: Mapped[date] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(primary_key=True)
    previous_day: Mapped[date | None]
    next_day: Mapped[date | None]
    first_in_month: Mapped[bool]
    last_in_month: Mapped[bool]


class FactsWatermark(Base):
    """How far the facts have read a source (orders, refunds, points and stored-value entries):
    its highest id seen. A refresh re-reads a margin below it, for rows of transactions that
    committed after a later one."""

    __tablename__ = "facts_watermarks"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    refreshed_at: Mapped[datetime]
