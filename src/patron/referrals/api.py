from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response

from patron.console.qr import qr_svg
from patron.core import export
from patron.core.actor import Actor
from patron.core.moments import Day
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import (
    MemberDep,
    OneHopRouter,
    SessionDep,
    SettingsDep,
    WriteSessionDep,
    require,
)
from patron.members import errors as member_errors
from patron.referrals import permissions, report, service
from patron.referrals.errors import AlreadyReferred, ReferralProgramOff, ReferralWindowOver
from patron.referrals.models import ReferralStatus
from patron.referrals.schemas import (
    InviteeOut,
    InviteIn,
    MyReferralOut,
    ProgramIn,
    ProgramOut,
    ReferralOut,
    ReportOut,
    TopReferrerOut,
)

router = OneHopRouter(tags=["referrals"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Editor = Annotated[Actor, Depends(require(permissions.EDIT_PROGRAM))]
Recorder = Annotated[Actor, Depends(require(permissions.RECORD))]
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in export.MEDIA_TYPES.values()},
        "description": "JSON, or with `format` the same figures as a CSV or .xlsx file",
    }
}


@router.get("/referral-program", response_model=ProgramOut)
def get_program(session: SessionDep, actor: Viewer) -> ProgramOut:
    return ProgramOut.model_validate(service.read_program(session))


@router.put("/referral-program", response_model=ProgramOut)
def put_program(data: ProgramIn, session: SessionDep, actor: Editor) -> ProgramOut:
    """The referral program's settings, as a whole."""
    program = service.update_program(session, actor, data.model_dump())
    return ProgramOut.model_validate(program)


@router.post(
    "/members/{member_id}/referral",
    response_model=ReferralOut,
    status_code=201,
    responses=errors(
        member_errors.MemberNotFound,
        member_errors.MemberNotActive,
        AlreadyReferred,
        ReferralWindowOver,
        ReferralProgramOff,
    ),
)
def record_referral(
    member_id: int, data: InviteIn, session: SessionDep, actor: Recorder
) -> ReferralOut:
    """Record the friend whose invite code brought this member in (at the counter), within
    7 days of the member's registration. A code nobody holds: 422 `unknown_invite_code`; the
    member's own: 422 `own_invite_code`. Recorded `rejected` (`same_device`) when the member
    signed up on a device the friend signs in from."""
    referral = service.record_by_staff(session, actor, member_id, data.code)
    return ReferralOut.model_validate(referral)


@router.get("/referrals", response_model=Page[ReferralOut])
def list_referrals(
    session: SessionDep,
    actor: Viewer,
    status: ReferralStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ReferralOut]:
    """Referrals, newest first."""
    page = report.list_referrals(session, actor, status, cursor, limit)
    return Page(
        items=[ReferralOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/referrals/report", response_model=ReportOut, responses=FILE_RESPONSES)
def referral_report(
    session: SessionDep,
    actor: Viewer,
    first: Annotated[Day, Query(alias="from", description="first business day of registration")],
    last: Annotated[Day, Query(alias="to", description="last business day included")],
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
) -> ReportOut | Response:
    """The referrals registered in the period, by where they stand now: invites, rewarded,
    rejected by reason, reversed, points and coupons given, the top referrers."""
    found = report.report(session, actor, first, last)
    if file_format is not None:
        name = f"referrals-{first:%Y%m%d}-{last:%Y%m%d}"
        return export.download(file_format, name, report.COLUMNS, report.rows(found))
    return report_out(found)


def report_out(found: report.ReferralReport) -> ReportOut:
    return ReportOut(
        first=found.first,
        last=found.last,
        invites=found.invites,
        pending=found.pending,
        rewarded=found.rewarded,
        reversed=found.reversed,
        rejected=found.rejected,
        rejected_by_reason=found.rejected_by_reason,
        points_given=found.points_given,
        coupons_given=found.coupons_given,
        top_referrers=[TopReferrerOut(**vars(t)) for t in found.top_referrers],
    )


@router.get("/me/referral", response_model=MyReferralOut)
def my_referral(
    session: WriteSessionDep, member: MemberDep, settings: SettingsDep
) -> MyReferralOut:
    """My invite code (drawn on first ask), its link and QR symbol, the friends I invited and
    what I earned."""
    assert member.id is not None
    code = service.code_of(session, member.id)
    link = service.invite_link(code, settings.public_url)
    mine = report.mine(session, member.id)
    return MyReferralOut(
        code=code,
        link=link,
        qr_svg=str(qr_svg(link, code)),
        invited=mine.invited,
        rewarded=mine.rewarded,
        pending=mine.pending,
        points=mine.points,
        invitees=[
            InviteeOut(
                mobile=i.mobile,
                status=ReferralStatus(i.status),
                reason=i.reason,
                registered_at=i.registered_at,
                rewarded_at=i.rewarded_at,
                points=i.points,
            )
            for i in mine.invitees
        ],
    )
