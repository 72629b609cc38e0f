"""What the member API and the member page show of the member's own profile and tier."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.me import service
from patron.me.schemas import ConsentState, MeOut, MeTierOut
from patron.members.models import Gender
from patron.tiers import ladder
from patron.tiers.member_view import member_tier


def me_out(session: Session, actor: Actor) -> MeOut:
    member = service.me(session, actor)
    return MeOut(
        id=member.id,
        name=member.name,
        mobile=member.mobile,
        email=member.email,
        gender=Gender(member.gender),
        birthday=member.birthday,
        birthday_editable=member.birthday is None,
        registered_at=member.registered_at,
        consents=[
            ConsentState(
                channel=channel,
                granted=bool(c and c.granted),
                recorded_at=c.recorded_at if c else None,
            )
            for channel, c in service.consents_of(session, actor).items()
        ],
    )


def tier_out(session: Session, actor: Actor) -> MeTierOut:
    member = service.me(session, actor)
    standing = member_tier(session, member)
    progress = 100
    if standing.next_tier is not None and standing.growth_needed is not None:
        target = standing.qualifying_growth + standing.growth_needed
        progress = min(100, standing.qualifying_growth * 100 // target) if target > 0 else 100
    rung = ladder.by_code(ladder.ladder(session), standing.tier.code) if standing.tier else None
    return MeTierOut.model_validate(
        standing.model_dump()
        | {
            "progress_percent": progress,
            "upgrade_gift": rung.upgrade_gift if rung else {},
            "birthday_gift": rung.birthday_gift if rung else {},
        }
    )
