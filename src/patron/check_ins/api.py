"""Daily check-in over HTTP: the program (HQ), a member's own check-in and calendar (member
token, `/me`), a member's check-ins for staff and the report."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Response

from patron.check_ins import permissions, program, reports, service
from patron.check_ins.errors import AlreadyCheckedIn, CheckInClosed
from patron.check_ins.models import CheckIn
from patron.check_ins.schemas import (
    MONTH_PATTERN,
    CalendarOut,
    CheckedInOut,
    CheckInIn,
    CheckInOut,
    ProgramIn,
    ProgramOut,
    ReportOut,
    check_in_out,
)
from patron.core import export
from patron.core.actor import Actor
from patron.core.errors import Unauthenticated
from patron.core.moments import Day
from patron.core.openapi import errors
from patron.core.pagination import Page, paginate
from patron.deps import IdempotentDep, MemberDep, OneHopRouter, SessionDep, require
from patron.members import errors as member_errors
from patron.members import visibility

router = OneHopRouter(tags=["check-ins"])
ProgramViewer = Annotated[Actor, Depends(require(permissions.VIEW_PROGRAM))]
ProgramEditor = Annotated[Actor, Depends(require(permissions.EDIT_PROGRAM))]
MemberViewer = Annotated[Actor, Depends(require(permissions.VIEW_MEMBER))]
ReportReader = Annotated[Actor, Depends(require(permissions.VIEW_REPORT))]
Limit = Annotated[int, Query(ge=1, le=200)]
Month = Annotated[
    str | None,
    Query(pattern=MONTH_PATTERN, description="YYYY-MM in business time; this month by default"),
]


@router.get("/check-in-program", response_model=ProgramOut)
def get_program(session: SessionDep, actor: ProgramViewer) -> ProgramOut:
    """The program's settings (the defaults until HQ saves them)."""
    return ProgramOut.of(program.program(session))


@router.put("/check-in-program", response_model=ProgramOut)
def put_program(data: ProgramIn, session: SessionDep, actor: ProgramEditor) -> ProgramOut:
    return ProgramOut.of(program.save_program(session, actor, data.values()))


@router.post(
    "/me/check-ins",
    response_model=CheckedInOut,
    status_code=201,
    responses=errors(Unauthenticated, AlreadyCheckedIn, CheckInClosed),
)
def check_in(
    session: SessionDep, actor: MemberDep, once: IdempotentDep, data: CheckInIn | None = None
) -> Response:
    """Check in for today (the chain's business day): the day's points plus the streak's
    bonus, granted to the points balance. A second check-in the same day: 409
    already_checked_in."""
    member_id = actor.id
    assert member_id is not None

    def work() -> CheckedInOut:
        row = service.check_in(session, actor, member_id)
        return check_in_out(row, service.tomorrow_of(session, row))

    return once(actor, data or CheckInIn(), work)


@router.get("/me/check-ins", response_model=CalendarOut, responses=errors(Unauthenticated))
def my_calendar(session: SessionDep, actor: MemberDep, month: Month = None) -> CalendarOut:
    """The month's check-ins, the current streak, today's state and what the next check-in
    gives."""
    assert actor.id is not None
    return CalendarOut.of(service.calendar(session, actor, actor.id, _month(month)))


def _month(month: str | None) -> date | None:
    if month is None:
        return None
    year, number = month.split("-")
    return date(int(year), int(number), 1)


@router.get(
    "/members/{member_id}/check-ins",
    response_model=Page[CheckInOut],
    responses=errors(member_errors.MemberNotFound),
)
def member_check_ins(
    member_id: int,
    session: SessionDep,
    actor: MemberViewer,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[CheckInOut]:
    """The member's check-ins, newest first (a member the caller's stores may read)."""
    member = visibility.get_member(session, actor, member_id)
    page = paginate(
        session, service.member_check_ins(session, member.id), CheckIn.id, cursor, limit
    )
    return Page(
        items=[CheckInOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/check-ins/report",
    response_model=ReportOut,
    responses={
        200: {
            "content": {media: {} for media in export.MEDIA_TYPES.values()},
            "description": "JSON, or with `format` the rows of one `table` as a CSV or .xlsx file",
        }
    },
)
def check_in_report(
    session: SessionDep,
    actor: ReportReader,
    first: Annotated[Day, Query(alias="from", description="first business day")],
    last: Annotated[Day, Query(alias="to", description="last business day")],
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
    table: Annotated[
        reports.Table,
        Query(description="with `format`: check-ins per day, or per day of the streak"),
    ] = reports.Table.days,
) -> ReportOut | Response:
    """Check-ins and points per business day, distinct members and points over the range, and
    check-ins per day of the streak; a store manager's counts their stores' members."""
    found = reports.report(session, actor, first, last)
    if file_format is not None:
        name = f"check-ins-{table.value}-{first:%Y%m%d}-{last:%Y%m%d}"
        if table is reports.Table.streaks:
            return export.download(
                file_format, name, reports.STREAK_COLUMNS, reports.streak_rows(found)
            )
        return export.download(file_format, name, reports.DAY_COLUMNS, reports.day_rows(found))
    return ReportOut.of(found)
