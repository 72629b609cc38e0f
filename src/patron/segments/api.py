from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response

from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import OneHopRouter, SessionDep, WriteSessionDep, require
from patron.members import presenters
from patron.members.schemas import MemberSummary
from patron.segments import permissions, service
from patron.segments.errors import ChainWideOnly, InvalidRule, SegmentNameTaken, SegmentNotFound
from patron.segments.models import Segment
from patron.segments.schemas import (
    PreviewIn,
    PreviewOut,
    SegmentCountOut,
    SegmentIn,
    SegmentOut,
    SegmentUpdate,
)

router = OneHopRouter(tags=["segments"])
Previewer = Annotated[Actor, Depends(require(permissions.PREVIEW))]
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Manager = Annotated[Actor, Depends(require(permissions.MANAGE))]
Exporter = Annotated[Actor, Depends(require(permissions.EXPORT))]
Limit = Annotated[int, Query(ge=1, le=200)]
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in export.MEDIA_TYPES.values()},
        "description": "The segment's members as a CSV or .xlsx file",
    }
}


@router.post("/segments/preview", response_model=PreviewOut, responses=errors(InvalidRule))
def preview(data: PreviewIn, session: SessionDep, actor: Previewer) -> PreviewOut:
    """How many members the rule matches now (store-scoped callers: of their stores), and the
    first 20 of their ids. An invalid rule answers 422 `invalid_rule` with `line`, `column` and
    `expected`."""
    found = service.preview(session, actor, data.rule, clock.now())
    return PreviewOut(count=found.count, sample=found.sample)


def segment_out(segment: Segment, member_count: int | None, scoped: bool) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        rule=segment.rule,
        member_count=member_count,
        refreshed_at=segment.refreshed_at,
        scoped=scoped,
        created_by=segment.created_by,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _shown(session: SessionDep, actor: Actor, segment: Segment) -> SegmentOut:
    count = service.scoped_count(session, actor, segment, clock.now())
    return segment_out(segment, count, not actor.all_stores)


@router.post(
    "/segments",
    response_model=SegmentOut,
    status_code=201,
    responses=errors(InvalidRule, SegmentNameTaken),
)
def create_segment(data: SegmentIn, session: SessionDep, actor: Manager) -> SegmentOut:
    """Save a rule under a unique name; it is counted at once (the first point of its count
    history), then nightly."""
    return _shown(session, actor, service.create(session, actor, data, clock.now()))


@router.get("/segments", response_model=Page[SegmentOut])
def list_segments(
    session: SessionDep, actor: Viewer, cursor: str | None = None, limit: Limit = 50
) -> Page[SegmentOut]:
    """Saved segments, newest first, with their count at the last refresh (chain-wide; null for
    store-scoped callers, whose count is on each segment)."""
    page = service.list_segments(session, cursor, limit)
    scoped = not actor.all_stores
    return Page(
        items=[segment_out(s, None if scoped else s.member_count, scoped) for s in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/segments/{segment_id}", response_model=SegmentOut, responses=errors(SegmentNotFound))
def get_segment(segment_id: int, session: SessionDep, actor: Viewer) -> SegmentOut:
    """The segment; `member_count` is the count at its last refresh, or for store-scoped
    callers (`scoped`) their stores' members matching now."""
    return _shown(session, actor, service.get_segment(session, segment_id))


@router.patch(
    "/segments/{segment_id}",
    response_model=SegmentOut,
    responses=errors(SegmentNotFound, InvalidRule, SegmentNameTaken),
)
def update_segment(
    segment_id: int, data: SegmentUpdate, session: SessionDep, actor: Manager
) -> SegmentOut:
    segment = service.update(session, actor, segment_id, data, clock.now())
    return _shown(session, actor, segment)


@router.delete("/segments/{segment_id}", status_code=204, responses=errors(SegmentNotFound))
def delete_segment(segment_id: int, session: SessionDep, actor: Manager) -> None:
    """Delete the segment and its count history (audited with its name and rule)."""
    service.delete_segment(session, actor, segment_id)


@router.get(
    "/segments/{segment_id}/members",
    response_model=Page[MemberSummary],
    responses=errors(SegmentNotFound),
)
def segment_members(
    segment_id: int,
    session: SessionDep,
    actor: Viewer,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[MemberSummary]:
    """The members the segment matches now, newest first (store-scoped callers: of their
    stores), masked as the members list masks them."""
    page = service.members(session, actor, segment_id, clock.now(), cursor, limit)
    return Page(items=[presenters.summary(m) for m in page.items], next_cursor=page.next_cursor)


@router.get(
    "/segments/{segment_id}/counts",
    response_model=list[SegmentCountOut],
    responses=errors(SegmentNotFound, ChainWideOnly),
)
def segment_counts(segment_id: int, session: SessionDep, actor: Viewer) -> list[SegmentCountOut]:
    """The count at each refresh, oldest first (the last 400). Chain-wide counts: store-scoped
    callers get 403 `segment_history_chain_wide`."""
    points = service.history(session, actor, segment_id)
    return [SegmentCountOut(counted_at=p.counted_at, member_count=p.member_count) for p in points]


@router.post(
    "/segments/{segment_id}/refresh", response_model=SegmentOut, responses=errors(SegmentNotFound)
)
def refresh_segment(segment_id: int, session: SessionDep, actor: Manager) -> SegmentOut:
    """Count the segment now (a new point of its count history)."""
    segment = service.get_segment(session, segment_id)
    service.refresh(session, segment, clock.now())
    return _shown(session, actor, segment)


@router.get(
    "/segments/{segment_id}/export",
    responses={**FILE_RESPONSES, **errors(SegmentNotFound)},
    response_class=Response,
)
def export_segment(
    segment_id: int,
    session: WriteSessionDep,
    actor: Exporter,
    file_format: Annotated[export.Format, Query(alias="format")] = export.Format.csv,
) -> Response:
    """The members the segment matches now (store-scoped callers: of their stores), in id order,
    as CSV or .xlsx: member_id, name, mobile, gender, birthday, email, store, channel,
    registered_at. PII in clear for HQ admins and for store managers (their stores' members),
    masked for anyone else. Audited (`segment.export`)."""
    now = clock.now()
    rows = service.export_rows(session, actor, segment_id, now, file_format.value)
    segment = service.get_segment(session, segment_id)
    stamp = now.astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    return export.download(
        file_format, f"segment-{segment.id}-{stamp}", service.EXPORT_COLUMNS, rows
    )
