"""Count cards (次卡/计次卡): N uses of a service bought at a price, each use logged with store
and staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base, Timestamped


class CountCardProduct(Timestamped, Base):
    """N uses of a service (10 car washes), valid for so many days, at a price."""

    __tablename__ = "count_card_products"
    __table_args__ = (CheckConstraint("uses > 0", name="uses_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(100), default="")
    uses: Mapped[int]
    validity_days: Mapped[int | None]  # None: never expires
    price: Mapped[int]  # fen
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CountCard(Base):
    __tablename__ = "count_cards"
    __table_args__ = (
        Index("ix_count_cards_member", "member_id", "id"),
        CheckConstraint("uses_left >= 0 AND uses_left <= uses", name="uses_left_within_uses"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("count_card_products.id"))
    uses: Mapped[int]
    uses_left: Mapped[int]
    valid_until: Mapped[datetime | None]
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))  # where it was sold
    price: Mapped[int]  # fen paid for it (0 inside a recharge package)
    payment_method: Mapped[str] = mapped_column(String(16))
    payment_reference: Mapped[str] = mapped_column(String(100), default="")
    recharge_id: Mapped[int | None] = mapped_column(ForeignKey("stored_value_recharges.id"))
    operator: Mapped[str] = mapped_column(String(100))
    sold_at: Mapped[datetime] = mapped_column(default=clock.now)


class CountCardUse(Base):
    __tablename__ = "count_card_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("count_cards.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    staff: Mapped[str] = mapped_column(String(100))
    used_at: Mapped[datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
