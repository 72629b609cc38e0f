"""Member profiles: what each member buys, where, how often and how much, their RFM scores,
lifecycle stage and predicted value, and the CLV model those predictions came from.

A profile is derived data, rebuilt by `patron profiles refresh` and kept current between
refreshes by the facts job. `member_profiles.member_id` carries no foreign key on purpose: a
refresh writes a row per member of the chain in one statement, and the per-row key check would be
most of its time (measured on the tier review's history table: 5.1 of 6.8 s for 250,000 rows).
Merge and erasure clear a member's profile through the profiles hooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base


class MemberProfile(Base):
    __tablename__ = "member_profiles"

    member_id: Mapped[int] = mapped_column(primary_key=True)
    # Raw facts, from orders net of refunds (a fully refunded order does not count).
    first_purchase_at: Mapped[datetime | None]
    last_purchase_at: Mapped[datetime | None] = mapped_column(index=True)
    orders_lifetime: Mapped[int] = mapped_column(default=0)
    monetary_lifetime: Mapped[int] = mapped_column(default=0)  # fen
    orders_window: Mapped[int] = mapped_column(default=0)  # in the RFM window (365 days)
    monetary_window: Mapped[int] = mapped_column(default=0)  # fen
    aov: Mapped[int] = mapped_column(default=0)  # fen, lifetime
    purchase_days: Mapped[int] = mapped_column(default=0)  # distinct days with a purchase
    # RFM over members with a purchase in the window; None outside it.
    rfm_r: Mapped[int | None]
    rfm_f: Mapped[int | None]
    rfm_m: Mapped[int | None]
    rfm_class: Mapped[str | None] = mapped_column(String(24), index=True)
    lifecycle: Mapped[str] = mapped_column(String(16), default="prospect", index=True)
    # CLV (BG/NBD with Gamma-Gamma) at the last refresh.
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases_365: Mapped[float | None] = mapped_column(Float)
    clv_365: Mapped[int | None]  # fen
    # Preferences: ids and codes, most bought first.
    preferred_stores: Mapped[list[int]] = mapped_column(JSON, default=list)
    preferred_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    preferred_categories: Mapped[list[int]] = mapped_column(JSON, default=list)
    preferred_weekday: Mapped[int | None]  # 0 = Monday, business time
    preferred_hour: Mapped[int | None]  # business time
    similar_categories: Mapped[list[int]] = mapped_column(JSON, default=list)
    facts_at: Mapped[datetime] = mapped_column(default=clock.now)  # raw facts last computed
    refreshed_at: Mapped[datetime | None]  # last full refresh (scores, lifecycle, CLV)


class ProfileWatermark(Base):
    """One row: the last order and refund the facts job has folded into profiles."""

    __tablename__ = "profile_watermarks"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(default=0)
    refund_id: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class ClvFit(Base):
    """A fitted CLV model: BG/NBD for purchases, Gamma-Gamma for their value (time unit: day)."""

    __tablename__ = "clv_fits"

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(32))  # "bgnbd+gamma_gamma"
    time_unit: Mapped[str] = mapped_column(String(8), default="day")
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # r, alpha, a, b
    spend_params: Mapped[dict[str, Any]] = mapped_column(JSON)  # p, q, gamma
    customers: Mapped[int]
    fitted_at: Mapped[datetime]
    data_until: Mapped[datetime]
