"""Building journeys for the tests: a definition from steps, created and activated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.journeys import service
from patron.journeys.models import Journey, JourneyEntry, JourneyStepRun
from patron.journeys.schemas import JourneyIn

# 10:00 in Shanghai: daytime, outside the default quiet hours.
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def body(trigger: dict[str, Any], steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"name": fields.pop("name", "旅程"), "trigger": trigger, "steps": steps} | fields


def make_journey(
    session: Session,
    trigger: dict[str, Any],
    steps: list[dict[str, Any]],
    *,
    active: bool = True,
    **fields: Any,
) -> Journey:
    journey = service.create(
        session, SYSTEM, JourneyIn.model_validate(body(trigger, steps, **fields))
    )
    if active:
        service.move(session, SYSTEM, journey.id, "activate")
    session.flush()
    return journey


def entries(session: Session, journey: Journey) -> list[JourneyEntry]:
    session.expire_all()
    query = select(JourneyEntry).where(JourneyEntry.journey_id == journey.id)
    return list(session.scalars(query.order_by(JourneyEntry.id)))


def trail(session: Session, entry: JourneyEntry) -> list[tuple[str, str]]:
    query = select(JourneyStepRun.step_key, JourneyStepRun.outcome).where(
        JourneyStepRun.entry_id == entry.id
    )
    return [tuple(row) for row in session.execute(query.order_by(JourneyStepRun.id))]  # type: ignore[misc]
