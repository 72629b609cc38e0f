"""How the ladder is filled, for the console's chart: active members per tier (a live paid tier
counts over the held one; a member without a tier row holds the base tier) and the tier
changes per month and reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.members.models import Member, MemberStatus
from patron.tiers.ladder import Rung, base, by_id, ladder
from patron.tiers.models import MemberTier, TierChange


@dataclass(frozen=True)
class TierCount:
    tier: Rung
    members: int


def members_per_tier(session: Session) -> list[TierCount]:
    """Active members per tier, by rank; [] when tiers are off."""
    rungs = ladder(session)
    home = base(rungs)
    if home is None:
        return []
    now = clock.now()
    live_paid = case((MemberTier.paid_until > now, MemberTier.paid_tier_id), else_=None)
    rows = session.execute(
        select(MemberTier.tier_id, live_paid, func.count())
        .join(Member, Member.id == MemberTier.member_id)
        .where(Member.status == MemberStatus.active.value)
        .group_by(MemberTier.tier_id, live_paid)
    ).all()
    counts: Counter[int] = Counter()
    for held_id, paid_id, members in rows:
        held, paid = by_id(rungs, held_id) or home, by_id(rungs, paid_id)
        counts[(paid if paid is not None and paid.rank > held.rank else held).id] += members
    active = session.scalar(
        select(func.count()).select_from(Member).where(Member.status == MemberStatus.active.value)
    )
    counts[home.id] += int(active or 0) - sum(counts.values())
    return [TierCount(rung, counts[rung.id]) for rung in rungs]


@dataclass(frozen=True)
class MonthMovements:
    month: date  # the first of the month, business time
    by_reason: dict[str, int]


def movements_per_month(session: Session, months: int = 12) -> list[MonthMovements]:
    """Tier changes per calendar month (business time) and reason, the last `months` months
    oldest first, months without a change included."""
    firsts = _month_starts(clock.today(), months)
    since = datetime.combine(firsts[0], datetime.min.time(), tzinfo=clock.business_tz())
    tally: dict[date, Counter[str]] = {first: Counter() for first in firsts}
    rows = session.execute(
        select(TierChange.created_at, TierChange.reason).where(TierChange.created_at >= since)
    )
    for created_at, reason in rows:
        local = created_at.astimezone(clock.business_tz()).date().replace(day=1)
        if local in tally:
            tally[local][reason] += 1
    return [MonthMovements(first, dict(tally[first])) for first in firsts]


def _month_starts(today: date, months: int) -> list[date]:
    year, month = today.year, today.month
    firsts = []
    for _ in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return firsts[::-1]
