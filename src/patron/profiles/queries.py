"""What other domains read of member profiles (segment rules, the reports), without reaching
into the table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Select, Subquery, func, select
from sqlalchemy.orm import Session

from patron.profiles.models import MemberProfile


def facts() -> Select[int, datetime | None, int, int, int, str | None, str, int | None]:
    """One row per member with a profile: member_id, last_purchase_at, orders_window,
    monetary_window, aov, rfm_class, lifecycle, clv_365. A member without a row has made no
    purchase the profiles know of (a prospect: no recency, zero counts and money)."""
    return select(
        MemberProfile.member_id,
        MemberProfile.last_purchase_at,
        MemberProfile.orders_window,
        MemberProfile.monetary_window,
        MemberProfile.aov,
        MemberProfile.rfm_class,
        MemberProfile.lifecycle,
        MemberProfile.clv_365,
    )


@dataclass(frozen=True)
class Distribution:
    """Members by RFM class and by lifecycle stage (prospects: members without a profile row
    too); a member outside the RFM window has no class and is not counted there."""

    rfm: dict[str, int]
    lifecycle: dict[str, int]
    members: int


def distribution(session: Session, member_ids: Select[int]) -> Distribution:
    """How the members `member_ids` selects (one column of member ids: the caller scopes them)
    spread over the RFM classes and lifecycle stages: two grouped counts and a count."""
    scope = member_ids.subquery()
    within = MemberProfile.member_id.in_(select(scope.c[0]))
    rfm = session.execute(
        select(MemberProfile.rfm_class, func.count())
        .where(within, MemberProfile.rfm_class.is_not(None))
        .group_by(MemberProfile.rfm_class)
    ).all()
    stages = session.execute(
        select(MemberProfile.lifecycle, func.count())
        .where(within)
        .group_by(MemberProfile.lifecycle)
    ).all()
    total = int(session.scalar(select(func.count()).select_from(scope)) or 0)
    lifecycle = {str(stage): int(n) for stage, n in stages}
    profiled = sum(lifecycle.values())
    lifecycle["prospect"] = lifecycle.get("prospect", 0) + max(0, total - profiled)
    return Distribution({str(c): int(n) for c, n in rfm}, lifecycle, total)


class Grouping(StrEnum):
    rfm_class = "rfm_class"
    lifecycle = "lifecycle"


def totals_by(grouping: Grouping, amounts: Subquery) -> Select[str | None, int, int]:
    """The members of `amounts` (member_id, amount: another domain's figures per member) per
    RFM class or lifecycle stage: the class, how many and their amounts' sum, one grouped
    join. A member without a profile is a prospect without a class (None)."""
    column = getattr(MemberProfile, grouping.value)
    if grouping is Grouping.lifecycle:
        column = func.coalesce(column, "prospect")
    return (
        select(column, func.count(), func.coalesce(func.sum(amounts.c.amount), 0))
        .select_from(amounts)
        .outerjoin(MemberProfile, MemberProfile.member_id == amounts.c.member_id)
        .group_by(column)
    )
