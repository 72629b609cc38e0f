"""What members hold: a member's coupons page by page, one coupon by its code with its history.

A coupon past its `valid_until` reads as `expired` even while the expiry job has yet to mark it
(`status_at`): what a member is shown never depends on when the job last ran."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor
from patron.core.pagination import PageResult, paginate
from patron.coupons import codes
from patron.coupons.errors import CouponNotFound
from patron.coupons.models import Coupon, CouponEvent, CouponStatus, CouponTemplate
from patron.members import visibility
from patron.members.errors import MemberNotFound


def status_at(coupon: Coupon, now: datetime) -> CouponStatus:
    """The coupon's status at `now`: an available one past its validity is expired."""
    if coupon.status == CouponStatus.available and coupon.valid_until < now:
        return CouponStatus.expired
    return CouponStatus(coupon.status)


def is_status(status: CouponStatus, now: datetime) -> ColumnElement[bool]:
    """The condition `status_at(coupon, now) == status`, in SQL."""
    stored = Coupon.status == status.value
    if status is CouponStatus.available:
        return and_(stored, Coupon.valid_until >= now)
    if status is CouponStatus.expired:
        past = and_(Coupon.status == CouponStatus.available.value, Coupon.valid_until < now)
        return or_(stored, past)
    return stored


def member_coupons(
    session: Session, member_id: int, status: CouponStatus | None, cursor: str | None, limit: int
) -> PageResult[Coupon]:
    """The member's coupons, newest first, optionally of one status (as `status_at` reads it)."""
    query = select(Coupon).where(Coupon.member_id == member_id)
    if status is not None:
        query = query.where(is_status(status, clock.now()))
    return paginate(session, query, Coupon.id, cursor, limit)


def find_coupon(session: Session, code: str) -> Coupon | None:
    """The coupon with this code (as typed: case and spaces around it do not matter)."""
    code = codes.normalized(code)
    if not codes.looks_like_code(code):
        return None
    return session.scalar(select(Coupon).where(Coupon.code == code))


def get_coupon(session: Session, actor: Actor, code: str) -> Coupon:
    """A coupon by code, if the caller may read its holder (`members.visibility`); else 404
    `coupon_not_found`, as for a code nobody holds."""
    coupon = find_coupon(session, code)
    if coupon is None:
        raise CouponNotFound("no such coupon")
    try:
        visibility.get_member(session, actor, coupon.member_id)
    except MemberNotFound as exc:
        raise CouponNotFound("no such coupon") from exc
    return coupon


def history(session: Session, coupon_id: int) -> list[CouponEvent]:
    """What happened to the coupon after its issue, oldest first."""
    return list(
        session.scalars(
            select(CouponEvent).where(CouponEvent.coupon_id == coupon_id).order_by(CouponEvent.id)
        )
    )


SCOPE_WORDS = (
    ("store_ids", "stores"),
    ("channels", "channels"),
    ("category_codes", "categories"),
    ("skus", "products"),
)


def scope_summary(scope: dict[str, Any]) -> str:
    """The scope in a line of English: "stores 3, 5; excluding products X-1", or "everywhere"."""
    parts = []
    for key, words in SCOPE_WORDS:
        if scope.get(key):
            parts.append(f"{words} {', '.join(map(str, scope[key]))}")
        if scope.get(f"exclude_{key}"):
            parts.append(f"excluding {words} {', '.join(map(str, scope[f'exclude_{key}']))}")
    return "; ".join(parts) or "everywhere"


def templates_of(session: Session, coupons: list[Coupon]) -> dict[int, CouponTemplate]:
    """The templates of these coupons, in one query."""
    ids = {c.template_id for c in coupons}
    if not ids:
        return {}
    rows = session.scalars(select(CouponTemplate).where(CouponTemplate.id.in_(ids)))
    return {t.id: t for t in rows}


def holders(template_name: str, status: CouponStatus, now: datetime) -> Select[int]:
    """The members holding a coupon of the template of that name with that status at `now`
    (`status_at`): for segment rules, `coupon(template=..., status=...)`."""
    templates = select(CouponTemplate.id).where(CouponTemplate.name == template_name)
    return select(Coupon.member_id).where(
        Coupon.template_id.in_(templates.scalar_subquery()), is_status(status, now)
    )
