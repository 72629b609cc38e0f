"""What the tiers domain publishes: a member's tier changed (upgrade, downgrade, paid, lapse,
manual set, merge)."""

from __future__ import annotations

from dataclasses import dataclass

from patron.core.events import EventType


@dataclass(frozen=True)
class TierChanged:
    member_id: int
    from_code: str | None  # None: the member held no tier row yet (the base tier)
    from_rank: int | None
    to_code: str
    to_rank: int
    reason: str  # tiers.models.ChangeReason


MEMBER_TIER_CHANGED: EventType[TierChanged] = EventType("member.tier_changed")
