"""Scheduled coupon work for a moment `now`: available coupons past their validity become
expired (each with an `expire` event), and coupons expiring within three days get one notice
each, for the messages a later issue sends. Set-based; running it twice for the same `now`
changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, literal, select, update
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.core.db import UTCDateTime, insert_or_skip
from patron.coupons.models import (
    Coupon,
    CouponEvent,
    CouponEventKind,
    CouponStatus,
    ExpiryNotice,
)
from patron.members import merge as member_merge
from patron.schedule import registry

NOTICE_WINDOW = timedelta(days=3)
EVENTS = cast(Table, CouponEvent.__table__)
NOTICES = cast(Table, ExpiryNotice.__table__)
OPERATOR = "system"


@dataclass(frozen=True)
class JobReport:
    expired: int
    notices: int


def run(session: Session, now: datetime) -> JobReport:
    return JobReport(expire_due(session, now), note_expiring(session, now))


def scheduled(session: Session, now: datetime) -> str:
    report = run(session, now)
    return f"{report.expired} expired, {report.notices} expiry notices"


registry.register(
    registry.Job(
        "coupons",
        registry.daily(0, 5),
        scheduled,
        "Expire coupons past their validity, note those expiring within 3 days.",
    )
)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(Coupon.status == CouponStatus.available.value, Coupon.valid_until < now)


def expire_due(session: Session, now: datetime) -> int:
    """Mark the available coupons past `valid_until` expired; how many. Their members are held
    first (the global lock order: members, then the rows they own)."""
    member_merge.hold(session, select(Coupon.member_id).where(_due(now)).distinct())
    expired = session.execute(
        update(Coupon)
        .where(_due(now))
        .values(status=CouponStatus.expired.value)
        .returning(Coupon.id, Coupon.member_id)
    ).all()
    bulk.copy_rows(
        session,
        EVENTS,
        ("coupon_id", "kind", "from_member_id", "operator", "reason", "created_at"),
        ((i, CouponEventKind.expire.value, m, OPERATOR, "", now) for i, m in expired),
    )
    return len(expired)


def note_expiring(session: Session, now: datetime) -> int:
    """One notice for each available coupon expiring within NOTICE_WINDOW that has none yet."""
    soon = and_(
        Coupon.status == CouponStatus.available.value,
        Coupon.valid_until >= now,
        Coupon.valid_until <= now + NOTICE_WINDOW,
    )
    statement = (
        insert_or_skip(session, NOTICES)
        .from_select(
            ["coupon_id", "member_id", "valid_until", "noticed_at"],
            select(
                Coupon.id, Coupon.member_id, Coupon.valid_until, literal(now, UTCDateTime())
            ).where(soon),
        )
        .on_conflict_do_nothing(index_elements=["coupon_id"])
        .execution_options(preserve_rowcount=True)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
