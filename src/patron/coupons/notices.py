"""Coupon expiry notices for the message service: the recent ones whose coupon is still
unused and valid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.coupons.models import Coupon, CouponStatus, CouponTemplate, ExpiryNotice


@dataclass(frozen=True)
class CouponNotice:
    id: int
    member_id: int
    coupon_name: str
    valid_until: datetime


def recent_notices(
    session: Session, now: datetime, within: timedelta, limit: int = 5000
) -> list[CouponNotice]:
    """Notices recorded in the last `within` for coupons still available, oldest first."""
    rows = session.execute(
        select(
            ExpiryNotice.id, ExpiryNotice.member_id, CouponTemplate.name, ExpiryNotice.valid_until
        )
        .join(Coupon, Coupon.id == ExpiryNotice.coupon_id)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(
            ExpiryNotice.noticed_at > now - within,
            ExpiryNotice.valid_until > now,
            Coupon.status == CouponStatus.available.value,
        )
        .order_by(ExpiryNotice.id)
        .limit(limit)
    )
    return [CouponNotice(*row) for row in rows]
