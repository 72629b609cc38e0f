"""Coupons as other domains select them in bulk (journeys' daily triggers): unused coupons
ending in a window, and coupons issued in one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from patron.coupons.models import Coupon, CouponStatus


def expiring_between(
    start: datetime, end: datetime, template_id: int | None = None
) -> Select[int, int]:
    """(member_id, coupon_id) of available coupons whose validity ends in [start, end)."""
    query = select(Coupon.member_id, Coupon.id).where(
        Coupon.status == CouponStatus.available.value,
        Coupon.valid_until >= start,
        Coupon.valid_until < end,
    )
    return query if template_id is None else query.where(Coupon.template_id == template_id)


def issued_between(
    start: datetime, end: datetime, template_id: int | None = None
) -> Select[int, int, datetime]:
    """(member_id, coupon_id, issued_at) of coupons issued in [start, end), whatever became of
    them since."""
    query = select(Coupon.member_id, Coupon.id.label("coupon_id"), Coupon.issued_at).where(
        Coupon.issued_at >= start, Coupon.issued_at < end
    )
    return query if template_id is None else query.where(Coupon.template_id == template_id)


def issued_by_source(source: str) -> Select[int, int, str, str]:
    """(coupon_id, member_id, source_ref, status) of the coupons one kind of issuer gave (a
    referral's: source `referral`, ref `referral:<id>`)."""
    return select(Coupon.id, Coupon.member_id, Coupon.source_ref, Coupon.status).where(
        Coupon.source == source
    )
