"""Checkout quotes (收银报价): what a quote priced, kept for its commit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base


class QuoteStatus(StrEnum):
    open = "open"
    committed = "committed"


class CheckoutQuote(Base):
    """One priced basket: the request as given (never a stored-value secret), the priced result
    its commit must find unchanged, and the order the commit made."""

    __tablename__ = "checkout_quotes"
    __table_args__ = (Index("ix_checkout_quotes_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # unguessable token
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    channel: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The member proved they pay with stored value (member code or password) at quote time.
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=QuoteStatus.open.value)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
