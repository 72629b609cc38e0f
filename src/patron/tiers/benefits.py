"""What a member's place on the ladder gives them at the till: the discount percent the checkout
and the POS apply (their tier's, or a live paid plan's own when higher), staff excepted unless
the program allows it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Integer, bindparam, case, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.statements import Prepared
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.members import registry
from patron.tiers import standing
from patron.tiers.ladder import Rung, ladder
from patron.tiers.models import MemberTier, PaidMembership, PaidMembershipStatus, PaidPlan
from patron.tiers.program import program


class DiscountSource(StrEnum):
    tier = "tier"
    paid_plan = "paid_plan"  # the plan's own benefit set


@dataclass(frozen=True)
class Discount:
    percent: int  # 5: 5% off (95折)
    tier_id: int  # the tier the order records as giving it (the member's, whatever the source)
    source: DiscountSource = DiscountSource.tier


def member_discount(session: Session, member_id: int, *, is_staff: bool) -> Discount | None:
    """The member's discount: the higher of their tier's and a live paid plan's own; None when
    tiers are off, neither gives one, or a staff member may not have one (the program's staff
    flag covers a plan's discount too: it is the till's discount all the same)."""
    tier = standing.current_tier(session, member_id)
    if tier is None:
        return None
    if is_staff and not program(session).staff_discount:
        return None
    return _discount(session, member_id, tier)


def _discount(session: Session, member_id: int, tier: Rung) -> Discount | None:
    plan_percent = paid_plan_discount(session, member_id)
    if plan_percent > tier.discount_percent:
        return Discount(plan_percent, tier.id, DiscountSource.paid_plan)
    if tier.discount_percent <= 0:
        return None
    return Discount(tier.discount_percent, tier.id)


@dataclass(frozen=True)
class AtTill:
    """What an active member's tier gives at the till."""

    discount: Discount | None
    staff_refused: bool  # a staff member whose tier or plan gives one the program withholds


def at_till(session: Session, member_id: int) -> AtTill | None:
    """`member_discount` for the order path, with the member's staff flag read in the same
    prepared statement as their tier; None when there is no active member `member_id`."""
    found = _staff_and_tier().rows(session, {"member_id": member_id, "now": clock.now()})
    is_staff, tier_id, live_paid_tier_id = found[0]
    if is_staff is None:
        return None
    tier = standing.tier_of_row(ladder(session), tier_id, live_paid_tier_id)
    discount = _discount(session, member_id, tier) if tier is not None else None
    if discount is not None and is_staff and not program(session).staff_discount:
        return AtTill(None, staff_refused=True)
    return AtTill(discount, staff_refused=False)


@cache
def _staff_and_tier() -> Prepared:
    """The member's staff flag (NULL unless an active member), held tier and live paid tier."""

    def build(_session: Session) -> Any:
        member_id = bindparam("member_id", type_=Integer)
        live = MemberTier.paid_until > bindparam("now", type_=MemberTier.paid_until.type)
        row = MemberTier.member_id == member_id
        return select(
            registry.staff_flag(member_id),
            select(MemberTier.tier_id).where(row).scalar_subquery(),
            select(case((live, MemberTier.paid_tier_id))).where(row).scalar_subquery(),
        )

    return Prepared(build)


_discounting: TtlCache[dict[int, int]] = TtlCache()
drop_on_change(_discounting, PaidPlan, "after_insert", "after_update", "after_delete")


def _plan_discounts(session: Session) -> dict[int, int]:
    """Plan id -> its own discount percent, for the plans that give one (cached: the order path
    asks on every order with a tier discount, and most chains' plans give none)."""
    rows = session.execute(select(PaidPlan.id, PaidPlan.benefits))
    found = {plan_id: int((b or {}).get("discount_percent") or 0) for plan_id, b in rows}
    return {plan_id: percent for plan_id, percent in found.items() if percent > 0}


def paid_plan_discount(session: Session, member_id: int) -> int:
    """The highest discount of the plans whose terms run now for the member (0: none)."""
    discounts = _discounting.get(1, lambda: _plan_discounts(session)) or {}
    if not discounts:
        return 0
    now = clock.now()
    running = session.scalars(
        select(PaidMembership.plan_id).where(
            PaidMembership.member_id == member_id,
            PaidMembership.plan_id.in_(list(discounts)),
            PaidMembership.status == PaidMembershipStatus.active.value,
            PaidMembership.starts_at <= now,
            PaidMembership.ends_at > now,
        )
    )
    return max((discounts[plan_id] for plan_id in running), default=0)
