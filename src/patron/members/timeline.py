"""What happened to a member, from every domain that registered a timeline source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.hooks import Hook
from patron.members.consents import consent_history
from patron.members.guides import guide_history
from patron.members.models import (
    Member,
)
from patron.members.visibility import get_member


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # "registered", "consent", "guide", later "order", "refund", "points", ...
    summary: str
    data: dict[str, Any]


TimelineSource = Callable[[Session, Member], list[TimelineEvent]]
# Each domain's contribution to the member timeline (orders, points, coupons...).
timeline_sources: Hook[TimelineSource] = Hook("member timeline")


def timeline(
    session: Session, actor: Actor, member_id: int, limit: int = 100
) -> list[TimelineEvent]:
    """What happened to a member, newest first, from every domain that registered a source."""
    member = get_member(session, actor, member_id)
    events = [event for source in timeline_sources for event in source(session, member)]
    return sorted(events, key=lambda e: e.at, reverse=True)[:limit]


@timeline_sources.register("members.registration")
def _registration_events(session: Session, member: Member) -> list[TimelineEvent]:
    data = {"channel": member.channel, "store_id": member.store_id}
    return [TimelineEvent(member.registered_at, "registered", "registered", data)]


@timeline_sources.register("members.consents")
def _consent_events(session: Session, member: Member) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            e.recorded_at,
            "consent",
            "consent_granted" if e.granted else "consent_withdrawn",
            {"channel": e.channel, "source": e.source},
        )
        for e in consent_history(session, member.id)
    ]


@timeline_sources.register("members.guides")
def _guide_events(session: Session, member: Member) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            g.assigned_at,
            "guide",
            "guide_assigned",
            {"guide_id": g.guide_id, "previous_guide_id": g.previous_guide_id, "reason": g.reason},
        )
        for g in guide_history(session, member.id)
    ]
