"""What a member's place on the ladder gives them at the till: the discount percent the checkout
and the POS apply (their tier's, or a live paid plan's own when higher), staff excepted unless
the program allows it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.tiers import standing
from patron.tiers.models import PaidMembership, PaidMembershipStatus, PaidPlan
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
    plan_percent = paid_plan_discount(session, member_id)
    if plan_percent > tier.discount_percent:
        return Discount(plan_percent, tier.id, DiscountSource.paid_plan)
    if tier.discount_percent <= 0:
        return None
    return Discount(tier.discount_percent, tier.id)


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
