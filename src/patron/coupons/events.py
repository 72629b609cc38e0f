"""What the coupons domain publishes: a coupon issued (one event per coupon, written set-based
for a bulk issue) and a coupon redeemed on an order. The coupon's code is not carried: it is
what a till takes as the coupon, so it stays with the member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patron.core.events import EventType


@dataclass(frozen=True)
class CouponIssued:
    coupon_id: int
    member_id: int
    template_id: int
    source: str  # coupons.models.IssueSource
    source_ref: str
    store_id: int | None  # the issuing store; None: HQ
    valid_from: datetime
    valid_until: datetime
    occurred_at: datetime


@dataclass(frozen=True)
class CouponRedeemed:
    coupon_id: int
    member_id: int
    order_id: int
    store_id: int
    discount: int  # fen the order took off with it
    occurred_at: datetime


COUPON_ISSUED: EventType[CouponIssued] = EventType("coupon.issued")
COUPON_REDEEMED: EventType[CouponRedeemed] = EventType("coupon.redeemed")
