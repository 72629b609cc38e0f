"""A journey's report: its entries as treated and control (each entry measured from its own
entry time over the attribution window: the goal's days, else 14), their purchases and the
uplift with confidence intervals (`patron.campaigns.uplift`, the campaigns' own measure), the
journey's coupons redeemed (the control group gets none), as figures or as a sheet (`rows`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.campaigns import uplift
from patron.campaigns.report import GROUP_ROWS, blank, rounded
from patron.core.export import Cell
from patron.coupons import reports as coupons
from patron.coupons.models import IssueSource
from patron.journeys.models import EntryStatus, JourneyEntry, JourneyStepRun, JourneyVersion
from patron.journeys.schemas import GroupOut, ReportOut
from patron.journeys.service import current_version, get_journey

DEFAULT_DAYS = 14
COSTS = ("coupons", "points", "messages", "coupon_discount")
# Outcomes of an action that reached the member (a message queued or held for quiet hours).
TAKEN = ("done", "queued", "deferred")


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
    issued = coupons.source_figures(session, IssueSource.journey, f"journey:{journey.id}")
    cost = _cost(session, journey.id) | {"coupon_discount": issued.discount_given}
    return ReportOut(
        journey_id=journey.id,
        attribution_days=days,
        treated=_group(treated, issued.redeemed, cost),
        control=_group(control, 0, dict.fromkeys(COSTS, 0)),
        converted={"treated": converted.get(False, 0), "control": converted.get(True, 0)},
        uplift=_jsonable(asdict(measured)) if measured else None,
    )


def _group(group: uplift.Group, redemptions: int, cost: dict[str, int]) -> GroupOut:
    return GroupOut(
        members=group.members,
        converters=group.converters,
        conversion_rate=group.conversion_rate,
        revenue_per_member=group.revenue_per_member,
        revenue=group.revenue,
        coupon_redemptions=redemptions,
        cost=cost,
    )


def _cost(session: Session, journey_id: int) -> dict[str, int]:
    """What the actions gave: coupons issued, points granted, messages sent or on their way
    (the control group gets none)."""
    versions = session.execute(
        select(JourneyVersion.id, JourneyVersion.steps).where(
            JourneyVersion.journey_id == journey_id
        )
    ).all()
    actions = {
        (version_id, step["key"]): step
        for version_id, steps in versions
        for step in steps
        if step["type"] == "action"
    }
    taken = session.execute(
        select(JourneyStepRun.version_id, JourneyStepRun.step_key, func.count())
        .where(
            JourneyStepRun.version_id.in_([version_id for version_id, _ in versions]),
            JourneyStepRun.outcome.in_(TAKEN),
        )
        .group_by(JourneyStepRun.version_id, JourneyStepRun.step_key)
    )
    cost = dict.fromkeys(COSTS[:3], 0)
    for version_id, key, count in taken:
        step = actions.get((version_id, key), {})
        if step.get("action") == "issue_coupon":
            cost["coupons"] += count
        elif step.get("action") == "grant_points":
            cost["points"] += count * step["points"]
        elif step.get("action") == "send_message":
            cost["messages"] += count
    return cost


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    return {key: value for key, value in rows}


# The report as a sheet in the columns of the campaigns' report (COLUMNS, GROUP_ROWS).
EFFECTS = ("conversion", "revenue_per_member")


def rows(found: ReportOut) -> Iterator[tuple[Cell, ...]]:
    """Counts, entries that reached the goal, the two compared measures with their intervals
    (blank without treated entries), incremental revenue, then the cost."""
    treated, control, measured = found.treated, found.control, found.uplift or {}
    for name in GROUP_ROWS:
        yield (name, getattr(treated, name), getattr(control, name), *blank(6))
    yield ("converted", found.converted["treated"], found.converted["control"], *blank(6))
    for name in EFFECTS:
        effect = measured.get(name) or {}
        values = [
            effect.get("treated"),
            effect.get("control"),
            effect.get("absolute"),
            *(effect.get("absolute_ci") or (None, None)),
            effect.get("relative"),
            *(effect.get("relative_ci") or (None, None)),
        ]
        yield (f"{name}_rate" if name == "conversion" else name, *map(rounded, values))
    ci = measured.get("incremental_revenue_ci") or (None, None)
    incremental = measured.get("incremental_revenue")
    yield ("incremental_revenue", None, None, incremental, *map(rounded, ci), *blank(3))
    for name in COSTS:
        yield (f"cost_{name}", treated.cost[name], control.cost[name], *blank(6))
