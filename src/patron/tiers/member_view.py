"""What a member's tier looks like from outside: the one view of it every reader shares."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core import clock
from patron.members.models import Member
from patron.tiers import benefits, growth, ladder, program, standing
from patron.tiers.schemas import DiscountOut, MemberTierOut, TierBrief


def member_tier(session: Session, member: Member) -> MemberTierOut:
    """A member's tier as the API, the console and the member page show it: the tier held,
    since when, the next review, qualifying and lifetime growth, the next tier and the growth
    still needed, whether a paid membership holds it, and the discount it gives."""
    member_id = member.id
    found = standing.standings(session, [member_id]).get(member_id)
    if found is None:
        return MemberTierOut(
            member_id=member_id,
            tier=None,
            since=None,
            review_at=None,
            qualifying_growth=0,
            lifetime_growth=0,
            next_tier=None,
            growth_needed=None,
            paid=False,
            discount=None,
        )
    metric = program.program(session).metric
    qualifying = growth.qualifying_growth(session, member_id, metric, clock.now())
    higher = ladder.above(ladder.ladder(session), found.tier.rank)
    discount = benefits.member_discount(session, member_id, is_staff=member.is_staff)
    return MemberTierOut(
        member_id=member_id,
        tier=TierBrief.of(found.tier),
        since=found.since or member.registered_at,
        review_at=found.review_at,
        qualifying_growth=qualifying,
        lifetime_growth=found.lifetime_growth,
        next_tier=TierBrief.of(higher) if higher else None,
        growth_needed=max(0, higher.entry_threshold - qualifying) if higher else None,
        paid=found.paid,
        discount=DiscountOut(percent=discount.percent, source=discount.source)
        if discount
        else None,
    )
