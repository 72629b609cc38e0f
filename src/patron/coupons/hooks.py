"""What coupons add to the members domain's work: a merge moves them, the PIPL export lists
them, the timeline shows their issue, redemption and gifts. Erasure leaves them as they are:
a coupon holds no personal data, and redeemed ones are part of their orders' record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.db import UTCDateTime
from patron.coupons.holding import status_at, templates_of
from patron.coupons.models import Coupon, CouponEvent, CouponEventKind, ExpiryNotice
from patron.members import merge as member_merge
from patron.members import privacy, timeline
from patron.members.models import Member

TIMELINE_DEPTH = 30


@member_merge.on_merge.register("coupons")
def _merge_coupons(session: Session, source: Member, target: Member) -> None:
    """Every coupon moves, whatever its status (redeemed ones go with their orders), each with a
    `merge` event in its history; expiry notices follow their coupons."""
    session.execute(
        insert(CouponEvent).from_select(
            ["coupon_id", "kind", "from_member_id", "to_member_id", "operator", "reason"]
            + ["created_at"],
            select(
                Coupon.id,
                literal(CouponEventKind.merge.value, String),
                literal(source.id),
                literal(target.id),
                literal("system", String),
                literal(f"merged into member {target.id}", String),
                literal(clock.now(), UTCDateTime()),
            ).where(Coupon.member_id == source.id),
        )
    )
    session.execute(update(Coupon).where(Coupon.member_id == source.id).values(member_id=target.id))
    session.execute(
        update(ExpiryNotice).where(ExpiryNotice.member_id == source.id).values(member_id=target.id)
    )


@privacy.export_sections.register("coupons")
def _export_coupons(session: Session, member: Member) -> list[dict[str, Any]]:
    coupons = list(
        session.scalars(select(Coupon).where(Coupon.member_id == member.id).order_by(Coupon.id))
    )
    names = {i: t.name for i, t in templates_of(session, coupons).items()}
    now = clock.now()
    return [
        {
            "code": c.code,
            "template": names[c.template_id],
            "status": status_at(c, now).value,
            "issued_at": c.issued_at.isoformat(),
            "valid_until": c.valid_until.isoformat(),
            "order_id": c.order_id,
            "discount": c.discount,
        }
        for c in coupons
    ]


@timeline.timeline_sources.register("coupons")
def _coupon_events(session: Session, member: Member) -> list[timeline.TimelineEvent]:
    recent = list(
        session.scalars(
            select(Coupon)
            .where(Coupon.member_id == member.id)
            .order_by(Coupon.id.desc())
            .limit(TIMELINE_DEPTH)
        )
    )
    names = {i: t.name for i, t in templates_of(session, recent).items()}
    found = [
        timeline.TimelineEvent(
            c.issued_at,
            "coupon",
            "issued",
            {"code": c.code, "template": names[c.template_id], "source": c.source},
        )
        for c in recent
    ]
    found += [
        timeline.TimelineEvent(
            c.redeemed_at,
            "coupon",
            "redeemed",
            {"code": c.code, "order_id": c.order_id, "discount": c.discount},
        )
        for c in recent
        if c.redeemed_at is not None
    ]
    gifts = session.execute(
        select(CouponEvent, Coupon.code)
        .join(Coupon, Coupon.id == CouponEvent.coupon_id)
        .where(
            CouponEvent.kind == CouponEventKind.transfer.value,
            or_(CouponEvent.from_member_id == member.id, CouponEvent.to_member_id == member.id),
        )
        .order_by(CouponEvent.id.desc())
        .limit(TIMELINE_DEPTH)
    )
    found += [
        timeline.TimelineEvent(
            event.created_at,
            "coupon",
            "given" if event.from_member_id == member.id else "received",
            {
                "code": code,
                "from_member_id": event.from_member_id,
                "to_member_id": event.to_member_id,
            },
        )
        for event, code in gifts
    ]
    return found
