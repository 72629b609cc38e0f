from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response

from patron.campaigns import report as campaign_report
from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.ids import MAX_ROW_ID
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import OneHopRouter, SessionDep, require
from patron.journeys import permissions, report, service
from patron.journeys.errors import (
    JourneyArchived,
    JourneyNameTaken,
    JourneyNotFound,
    JourneyStatusConflict,
)
from patron.journeys.models import EntryStatus, JourneyStatus
from patron.journeys.schemas import (
    EntryOut,
    FlowOut,
    JourneyIn,
    JourneyOut,
    JourneyPatch,
    ReportOut,
)

router = OneHopRouter(tags=["journeys"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Manager = Annotated[Actor, Depends(require(permissions.MANAGE))]
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in export.MEDIA_TYPES.values()},
        "description": "JSON, or with `format` the report as a CSV or .xlsx sheet",
    }
}
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post(
    "/journeys", response_model=JourneyOut, status_code=201, responses=errors(JourneyNameTaken)
)
def create_journey(data: JourneyIn, session: SessionDep, actor: Manager) -> JourneyOut:
    """A draft journey: its trigger, entry limit, control share, goal and steps. A definition
    that does not hold together (a step key nobody defines, a loop without a wait, a template
    or tag that does not exist, a rule that does not parse) answers 422 naming the field."""
    return service.journey_out(session, service.create(session, actor, data))


@router.get("/journeys", response_model=Page[JourneyOut])
def list_journeys(
    session: SessionDep,
    actor: Viewer,
    status: JourneyStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[JourneyOut]:
    """Journeys, newest first, with their current version's definition."""
    page = service.list_journeys(session, cursor, limit, status)
    return Page(
        items=[service.journey_out(session, j) for j in page.items], next_cursor=page.next_cursor
    )


@router.get("/journeys/{journey_id}", response_model=JourneyOut, responses=errors(JourneyNotFound))
def get_journey(journey_id: int, session: SessionDep, actor: Viewer) -> JourneyOut:
    return service.journey_out(session, service.get_journey(session, journey_id))


@router.patch(
    "/journeys/{journey_id}",
    response_model=JourneyOut,
    responses=errors(JourneyNotFound, JourneyNameTaken, JourneyArchived),
)
def update_journey(
    journey_id: int, data: JourneyPatch, session: SessionDep, actor: Manager
) -> JourneyOut:
    """Change the name, the description or the definition. Once members have entered, a changed
    definition is a new version (`version` + 1) that new entries take; the members inside finish
    the version they entered."""
    return service.journey_out(session, service.update(session, actor, journey_id, data))


MOVE_ERRORS = errors(JourneyNotFound, JourneyArchived, JourneyStatusConflict)


@router.post("/journeys/{journey_id}/activate", response_model=JourneyOut, responses=MOVE_ERRORS)
def activate_journey(journey_id: int, session: SessionDep, actor: Manager) -> JourneyOut:
    """Start (or resume) the journey: its trigger enters members, and due entries advance."""
    return service.journey_out(session, service.move(session, actor, journey_id, "activate"))


@router.post("/journeys/{journey_id}/pause", response_model=JourneyOut, responses=MOVE_ERRORS)
def pause_journey(journey_id: int, session: SessionDep, actor: Manager) -> JourneyOut:
    """Nobody enters and nobody advances until it is activated again (a goal still converts)."""
    return service.journey_out(session, service.move(session, actor, journey_id, "pause"))


@router.post("/journeys/{journey_id}/archive", response_model=JourneyOut, responses=MOVE_ERRORS)
def archive_journey(journey_id: int, session: SessionDep, actor: Manager) -> JourneyOut:
    """End the journey for good: the members still inside leave (`exited`); its report stays."""
    return service.journey_out(session, service.move(session, actor, journey_id, "archive"))


@router.get(
    "/journeys/{journey_id}/entries",
    response_model=Page[EntryOut],
    responses=errors(JourneyNotFound),
)
def journey_entries(
    journey_id: int,
    session: SessionDep,
    actor: Viewer,
    status: EntryStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[EntryOut]:
    """The members who entered, newest first: their version, control side, step and status."""
    page = service.entries(session, journey_id, cursor, limit, status)
    return Page(items=list(page.items), next_cursor=page.next_cursor)


@router.get(
    "/journeys/{journey_id}/flow", response_model=FlowOut, responses=errors(JourneyNotFound)
)
def journey_flow(
    journey_id: int,
    session: SessionDep,
    actor: Viewer,
    version: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> FlowOut:
    """A version's steps (the current one by default), each with the entries now at it and
    what it did (`outcomes`: done, yes, no, control, queued, skipped:<reason>, failed:<code>),
    and the version's entries by status."""
    return service.flow(session, journey_id, version)


@router.get(
    "/journeys/{journey_id}/report",
    response_model=ReportOut,
    responses={**FILE_RESPONSES, **errors(JourneyNotFound)},
)
def journey_report(
    journey_id: int,
    session: SessionDep,
    actor: Viewer,
    days: Annotated[int | None, Query(ge=1, le=365)] = None,
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
) -> ReportOut | Response:
    """Treated and control entries: members, converters (a purchase within `days` of entering:
    the goal's days, else 14), conversion rate, revenue per member, the journey's coupons
    redeemed, cost; the uplift of conversion and revenue per member with 95% intervals, and the
    incremental revenue. With `format`, the report as a CSV or .xlsx sheet."""
    found = report.report(session, journey_id, days)
    return found if file_format is None else download(found, file_format)


def download(found: ReportOut, file_format: export.Format) -> Response:
    stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    name = f"journey-{found.journey_id}-report-{stamp}"
    return export.download(file_format, name, campaign_report.COLUMNS, report.rows(found))
