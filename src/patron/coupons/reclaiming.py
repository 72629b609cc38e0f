"""Taking back the coupons a purchase gave when the purchase is undone (a recharge package's
coupons when its recharge or its account is refunded). The caller holds the member's row; the
coupons' rows are locked after it, in id order."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.coupons.holding import status_at
from patron.coupons.models import Coupon, CouponEvent, CouponEventKind, CouponStatus, IssueSource


@dataclass
class Issued:
    """The coupons issued under one source reference, as they stand."""

    # still the member's and available: these can be taken back
    available: list[Coupon] = field(default_factory=list)
    # redeemed, or given to another member: out of reach
    gone: list[Coupon] = field(default_factory=list)
    # expired or voided already: nothing left to take back


def issued_under(session: Session, member_id: int, source: IssueSource, source_ref: str) -> Issued:
    """The coupons issued to `member_id` under `source` and `source_ref`, locked."""
    coupons = session.scalars(
        select(Coupon)
        .where(Coupon.source == source.value, Coupon.source_ref == source_ref)
        .order_by(Coupon.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    issued = Issued()
    now = clock.now()
    for coupon in coupons:
        status = status_at(coupon, now)
        if coupon.member_id != member_id or status is CouponStatus.redeemed:
            issued.gone.append(coupon)
        elif status is CouponStatus.available:
            issued.available.append(coupon)
    return issued


def void_all(session: Session, actor: Actor, coupons: list[Coupon], reason: str) -> None:
    """Void these coupons (from `issued_under`), each with a history event and an audit entry."""
    now = clock.now()
    for coupon in coupons:
        coupon.status = CouponStatus.void.value
        coupon.voided_at = now
        coupon.void_reason = reason
        session.add(
            CouponEvent(
                coupon_id=coupon.id,
                kind=CouponEventKind.void.value,
                from_member_id=coupon.member_id,
                operator=actor.name,
                reason=reason,
                created_at=now,
            )
        )
    session.flush()
    for coupon in coupons:
        audit.record(
            session,
            actor,
            "coupon.void",
            "coupon",
            coupon.id,
            before={"member_id": coupon.member_id},
            after={"member_id": coupon.member_id, "status": coupon.status, "reason": reason},
        )
