"""/m/invite (邀请有礼): the member's invite code large, its QR symbol, a button copying the link,
and the friends they invited with what each brought them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from patron.console.message_ids import N_
from patron.console.qr import qr_svg
from patron.console.web import settings_of
from patron.deps import WriteSessionDep
from patron.member_page.web import MemberPageDep, render
from patron.referrals import report, service

router = APIRouter()
# A friend's status, as the page names it.
STATUS_IDS = (
    N_("m.invite.status.pending"),
    N_("m.invite.status.rewarded"),
    N_("m.invite.status.rejected"),
    N_("m.invite.status.reversed"),
)


@router.get("/invite")
def invite_page(request: Request, session: WriteSessionDep, actor: MemberPageDep) -> HTMLResponse:
    """The code is drawn the first time the member opens this page (hence a write session)."""
    assert actor.id is not None
    code = service.code_of(session, actor.id)
    link = service.invite_link(code, settings_of(request).public_url)
    return render(
        request,
        "m/referrals/invite.html",
        section="invite",
        code=code,
        link=link,
        qr=qr_svg(link, code),
        mine=report.mine(session, actor.id),
        program=service.read_program(session),
    )
