"""What a member's place on the ladder gives them at the till: the discount percent the checkout
and the POS apply (their tier's, or a live paid plan's own when higher), staff excepted unless
the program allows it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from patron.tiers import standing
from patron.tiers.program import program


@dataclass(frozen=True)
class Discount:
    percent: int  # 5: 5% off (95折)
    tier_id: int  # the tier the order records as giving it


def member_discount(session: Session, member_id: int, *, is_staff: bool) -> Discount | None:
    """The member's discount; None when tiers are off, the tier gives none, or a staff member
    may not have one."""
    tier = standing.current_tier(session, member_id)
    if tier is None or tier.discount_percent <= 0:
        return None
    if is_staff and not program(session).staff_discount:
        return None
    return Discount(tier.discount_percent, tier.id)
