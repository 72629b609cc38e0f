"""The points mall (积分商城): items members redeem with points (or points plus cash)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.crypto import EncryptedString
from patron.core.db import Base, Timestamped


class ItemKind(StrEnum):
    coupon = "coupon"
    product = "product"
    count_card = "count_card"


class Fulfilment(StrEnum):
    none = ""  # a coupon or count card: issued at once
    pickup = "pickup"
    delivery = "delivery"


class RedemptionStatus(StrEnum):
    completed = "completed"  # coupon or count card issued
    pending = "pending"  # a product waiting to be handed over or shipped
    handed_over = "handed_over"
    shipped = "shipped"
    cancelled = "cancelled"


class MallItem(Timestamped, Base):
    __tablename__ = "mall_items"
    __table_args__ = (
        CheckConstraint("points_price >= 0 AND cash_price >= 0", name="prices_not_negative"),
        CheckConstraint("points_price + cash_price > 0", name="has_a_price"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("per_member_limit IS NULL OR per_member_limit > 0", name="limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    points_price: Mapped[int]
    cash_price: Mapped[int] = mapped_column(default=0)  # fen, paid beside the points
    coupon_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    count_card_product_id: Mapped[int | None] = mapped_column(ForeignKey("count_card_products.id"))
    # products: how members may receive it ("pickup", "delivery" or "pickup,delivery")
    fulfilment: Mapped[str] = mapped_column(String(32), default="")
    stock: Mapped[int | None]  # what is left; None: unlimited
    redeemed_count: Mapped[int] = mapped_column(default=0)
    per_member_limit: Mapped[int | None]  # None: no limit
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    min_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))  # this tier or higher
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class MallRedemption(Base):
    __tablename__ = "mall_redemptions"
    __table_args__ = (
        Index("ix_mall_redemptions_member_item", "member_id", "item_id"),
        Index("ix_mall_redemptions_status", "status", "id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("mall_items.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    quantity: Mapped[int] = mapped_column(default=1)
    points: Mapped[int]  # burned, all units
    cash: Mapped[int] = mapped_column(default=0)  # fen, all units
    cash_reference: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16))
    fulfilment: Mapped[str] = mapped_column(String(16), default=Fulfilment.none.value)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))  # pick-up store
    recipient_name: Mapped[str | None] = mapped_column(EncryptedString)
    recipient_mobile: Mapped[str | None] = mapped_column(EncryptedString)
    address: Mapped[str | None] = mapped_column(EncryptedString)
    tracking: Mapped[str] = mapped_column(String(100), default="")
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    count_card_id: Mapped[int | None] = mapped_column(ForeignKey("count_cards.id"))
    burn_entry_id: Mapped[int | None] = mapped_column(ForeignKey("points_entries.id"))  # its burn
    channel: Mapped[str] = mapped_column(String(16), default="")  # member_page, console, api
    handled_by: Mapped[str] = mapped_column(String(100), default="")
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
