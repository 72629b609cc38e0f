"""What the journeys domain publishes: a journey's webhook action reached a member (webhook
endpoints subscribed to `journey.action` receive it, with the data the step carries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patron.core.events import EventType


@dataclass(frozen=True)
class JourneyAction:
    journey_id: int
    version: int
    entry_id: int
    member_id: int
    step_key: str
    data: dict[str, Any]


JOURNEY_ACTION: EventType[JourneyAction] = EventType("journey.action")
