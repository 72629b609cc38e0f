"""Birthday gifts (the daily job): members whose birthday is today in business time get their
tier's birthday gift once per year (`MemberTier.birthday_gift_year`); a 29 February birthday is
kept on 28 February in other years. Coupons go out in one issue per tier and template."""

from __future__ import annotations

import calendar
import contextlib
from collections import defaultdict
from datetime import date

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.core.errors import InvalidInput
from patron.coupons.errors import TemplateExpired, TemplateNotActive, TemplateNotFound
from patron.coupons.issuing import issue_coupons
from patron.coupons.models import IssueSource
from patron.members.models import Member, MemberStatus
from patron.points import grants
from patron.tiers import standing
from patron.tiers.ladder import Rung, base, ladder
from patron.tiers.models import MemberTier


def birthdays_on(day: date) -> list[str]:
    """The `birthday_md` values celebrated on `day`."""
    days = [day.strftime("%m-%d")]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        days.append("02-29")
    return days


def give(session: Session, today: date) -> int:
    """Give today's birthday gifts; how many members got one."""
    rungs = ladder(session)
    if base(rungs) is None or not any(r.birthday_gift for r in rungs):
        return 0
    celebrating = list(
        session.scalars(
            select(Member.id)
            .outerjoin(MemberTier, MemberTier.member_id == Member.id)
            .where(
                Member.status == MemberStatus.active.value,
                Member.birthday_md.in_(birthdays_on(today)),
                or_(
                    MemberTier.birthday_gift_year.is_(None),
                    MemberTier.birthday_gift_year < today.year,
                ),
            )
            .order_by(Member.id)
        )
    )
    if not celebrating:
        return 0
    standing.lock(session, celebrating)  # creates the rows of members on the base tier
    by_tier: dict[int, list[int]] = defaultdict(list)
    tiers = {r.id: r for r in rungs}
    for member_id, found in standing.standings(session, celebrating).items():
        if found.tier.birthday_gift:
            by_tier[found.tier.id].append(member_id)
    for tier_id, members in by_tier.items():
        _gift(session, tiers[tier_id], members, today.year)
    session.execute(
        update(MemberTier)
        .where(MemberTier.member_id.in_(celebrating))
        .values(birthday_gift_year=today.year)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return sum(len(m) for m in by_tier.values())


def _gift(session: Session, tier: Rung, members: list[int], year: int) -> None:
    """A gift that cannot go out (template paused or over, limits, balance limit) is left out:
    the others still get theirs."""
    ref = f"birthday:{tier.code}:{year}"
    for coupon in tier.birthday_gift.get("coupons") or []:
        with contextlib.suppress(TemplateNotFound, TemplateNotActive, TemplateExpired):
            issue_coupons(
                session,
                SYSTEM,
                coupon["template_id"],
                [m for m in members for _ in range(int(coupon.get("count", 1)))],
                source=IssueSource.tier_benefit,
                source_ref=ref,
            )
    points = int(tier.birthday_gift.get("points") or 0)
    if points <= 0:
        return
    for member_id in members:
        with contextlib.suppress(InvalidInput):
            grants.grant_points(
                session,
                SYSTEM,
                member_id,
                points,
                reason=f"{tier.name} birthday gift",
                store_id=None,
                source_ref=ref,
            )
