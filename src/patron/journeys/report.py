"""A journey's report: its entries as treated and control (each entry measured from its own
entry time over the attribution window: the goal's days, else 14), their purchases and the
uplift with confidence intervals (`patron.campaigns.uplift`, the campaigns' own measure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.campaigns import uplift
from patron.journeys.models import EntryStatus, JourneyEntry
from patron.journeys.schemas import GroupOut, ReportOut
from patron.journeys.service import current_version, get_journey

DEFAULT_DAYS = 14


def report(session: Session, journey_id: int, days: int | None = None) -> ReportOut:
    journey = get_journey(session, journey_id)
    goal = current_version(session, journey).goal
    days = days or (goal or {}).get("days") or DEFAULT_DAYS
    entries = select(
        JourneyEntry.member_id, JourneyEntry.in_control, JourneyEntry.entered_at
    ).where(JourneyEntry.journey_id == journey.id)
    treated, control = uplift.group_facts(session, entries, days)
    converted = _pairs(
        session.execute(
            select(JourneyEntry.in_control, func.count())
            .where(
                JourneyEntry.journey_id == journey.id,
                JourneyEntry.status == EntryStatus.converted.value,
            )
            .group_by(JourneyEntry.in_control)
        )
    )
    measured = uplift.compare(treated, control) if treated.members else None
    return ReportOut(
        journey_id=journey.id,
        attribution_days=days,
        treated=_group(treated),
        control=_group(control),
        converted={"treated": converted.get(False, 0), "control": converted.get(True, 0)},
        uplift=_jsonable(asdict(measured)) if measured else None,
    )


def _group(group: uplift.Group) -> GroupOut:
    return GroupOut(
        members=group.members,
        converters=group.converters,
        conversion_rate=group.conversion_rate,
        revenue_per_member=group.revenue_per_member,
        revenue=group.revenue,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    return {key: value for key, value in rows}
