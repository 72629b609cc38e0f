"""What HQ reads of referrals: the report over the invitations of a period, the list, and a
member's own invitees. Figures are of the referrals registered in the period (business days),
by where they stand now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.coupons import queries as coupon_queries
from patron.coupons.models import IssueSource
from patron.members import registry
from patron.members.masking import mask_mobile
from patron.points import queries as points_queries
from patron.referrals import permissions
from patron.referrals.models import Referral, ReferralStatus
from patron.referrals.rewards import source_ref
from patron.referrals.service import REJECTIONS

TOP = 10
PREFIX = "referral:"


@dataclass(frozen=True)
class TopReferrer:
    member_id: int
    mobile: str  # masked
    invites: int
    rewarded: int


@dataclass
class ReferralReport:
    first: date
    last: date
    invites: int = 0
    pending: int = 0
    rewarded: int = 0
    reversed: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    points_given: int = 0  # net of points taken back
    coupons_given: int = 0
    top_referrers: list[TopReferrer] = field(default_factory=list)


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    if last < first:
        raise InvalidInput("to", "the period ends before it starts", code=Reason.dates_reversed)
    tz = clock.business_tz()
    return (
        datetime.combine(first, time(0), tz),
        datetime.combine(last + timedelta(days=1), time(0), tz),
    )


def report(session: Session, actor: Actor, first: date, last: date) -> ReferralReport:
    permissions.VIEW.check(actor)
    start, end = period_bounds(first, last)
    in_period = (Referral.registered_at >= start, Referral.registered_at < end)
    found = ReferralReport(first, last)
    by_status: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for status, reason, count in session.execute(
        select(Referral.status, Referral.reason, func.count())
        .where(*in_period)
        .group_by(Referral.status, Referral.reason)
    ):
        by_status[status] += count
        if status == ReferralStatus.rejected:
            reasons[reason or "other"] += count
    found.invites = sum(by_status.values())
    found.pending = by_status[ReferralStatus.pending]
    found.rewarded = by_status[ReferralStatus.rewarded]
    found.reversed = by_status[ReferralStatus.reversed]
    found.rejected = by_status[ReferralStatus.rejected]
    found.rejected_by_reason = {r: reasons[r] for r in (*REJECTIONS, "other") if reasons[r]}
    ids = set(
        session.scalars(
            select(Referral.id).where(
                *in_period,
                Referral.status.in_([ReferralStatus.rewarded.value, ReferralStatus.reversed.value]),
            )
        )
    )
    refs = {source_ref(i) for i in ids}
    granted = points_queries.grants_tagged(session, PREFIX)
    found.points_given = sum(sum(m.values()) for ref, m in granted.items() if ref in refs)
    issued = coupon_queries.issued_by_source(IssueSource.referral.value)
    found.coupons_given = sum(1 for row in session.execute(issued) if row.source_ref in refs)
    top = session.execute(
        select(
            Referral.referrer_id,
            func.count().label("invites"),
            func.sum(case((Referral.status == ReferralStatus.rewarded.value, 1), else_=0)).label(
                "rewarded"
            ),
        )
        .where(*in_period)
        .group_by(Referral.referrer_id)
        .order_by(func.count().desc(), Referral.referrer_id)
        .limit(TOP)
    ).all()
    members = registry.members_by_id(session, [row.referrer_id for row in top])
    found.top_referrers = [
        TopReferrer(
            row.referrer_id,
            _masked(members.get(row.referrer_id)),
            int(row.invites),
            int(row.rewarded or 0),
        )
        for row in top
    ]
    return found


def _masked(member: Any) -> str:
    mobile = getattr(member, "mobile", None)
    return mask_mobile(mobile) if mobile else ""


COLUMNS = ("figure", "value")


def rows(found: ReferralReport) -> Iterator[tuple[str, int | str]]:
    """The report as two columns, for CSV and Excel."""
    yield "from", found.first.isoformat()
    yield "to", found.last.isoformat()
    for name in ("invites", "pending", "rewarded", "reversed", "rejected"):
        yield name, getattr(found, name)
    for reason, count in found.rejected_by_reason.items():
        yield f"rejected.{reason}", count
    yield "points_given", found.points_given
    yield "coupons_given", found.coupons_given
    for top in found.top_referrers:
        yield f"referrer.{top.member_id} {top.mobile}", top.rewarded


def list_referrals(
    session: Session,
    actor: Actor,
    status: ReferralStatus | None,
    cursor: str | None,
    limit: int,
) -> PageResult[Referral]:
    permissions.VIEW.check(actor)
    query: Select[Any] = select(Referral)
    if status is not None:
        query = query.where(Referral.status == status.value)
    return paginate(session, query, Referral.id, cursor, limit)


@dataclass(frozen=True)
class Invitee:
    referral_id: int
    mobile: str  # masked
    status: str
    reason: str
    registered_at: datetime
    rewarded_at: datetime | None
    points: int  # what the referrer got for them, net


@dataclass(frozen=True)
class MyReferrals:
    invitees: list[Invitee]
    invited: int
    rewarded: int
    pending: int
    points: int


def mine(session: Session, member_id: int, limit: int = 100) -> MyReferrals:
    """The member's invitees (newest first, at most `limit`) and totals over all of them."""
    rows_ = session.scalars(
        select(Referral)
        .where(Referral.referrer_id == member_id)
        .order_by(Referral.id.desc())
        .limit(limit)
    ).all()
    members = registry.members_by_id(session, [r.invitee_id for r in rows_])
    granted = points_queries.grants_tagged(session, PREFIX, member_id)
    counts = Counter(
        dict(
            session.execute(
                select(Referral.status, func.count())
                .where(Referral.referrer_id == member_id)
                .group_by(Referral.status)
            ).all()
        )
    )
    invitees = [
        Invitee(
            r.id,
            _masked(members.get(r.invitee_id)),
            r.status,
            r.reason,
            r.registered_at,
            r.rewarded_at,
            granted.get(source_ref(r.id), {}).get(member_id, 0),
        )
        for r in rows_
    ]
    return MyReferrals(
        invitees,
        sum(counts.values()),
        counts[ReferralStatus.rewarded.value],
        counts[ReferralStatus.pending.value],
        sum(m.get(member_id, 0) for m in granted.values()),
    )
