"""The member's own pages: the member code (QR and digits, refreshing itself each minute without
reloading), paying with stored value, balances, coupons (and giving one to another member),
tier, orders, points history, count cards, profile and consent, the PIPL export and erasure.
Every page reads and changes the signed-in member only, through `me.service`."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron import deps
from patron.console.message_ids import N_
from patron.console.qr import qr_svg
from patron.console.web import text
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.count_cards import cards
from patron.coupons import presenters as coupon_presenters
from patron.coupons.models import CouponStatus
from patron.me import service, views
from patron.me.schemas import MeUpdate
from patron.member_page.web import (
    PREFIX,
    CheckedForm,
    MemberPageDep,
    Tx,
    end_member_session,
    redirect,
    render,
)
from patron.members import codes
from patron.members.models import ConsentChannel
from patron.members.schemas import normalize_mobile
from patron.orders import presenters as order_presenters
from patron.orders import service as orders
from patron.stored_value import queries as stored_value

router = APIRouter()
CODE_REFRESH_SECONDS = 60
WriteTx = Annotated[Session, Depends(deps.write_session)]
NOTICES = {
    "saved": N_("m.notice.saved"),
    "gift_sent": N_("m.coupons.gift_sent"),
    "consent_saved": N_("m.notice.consent_saved"),
}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


def _code(session: Session, actor: Actor, label: str) -> dict[str, str]:
    issued = codes.issue_code(session, actor, service.member_id_of(actor))
    return {
        "code": issued.code,
        "expires_at": issued.expires_at.isoformat(),
        "qr": str(qr_svg(issued.code, label)),
    }


def _balances(session: Session, actor: Actor) -> dict[str, Any]:
    points = service.points(session, actor, None, 1)
    held = stored_value.balance(session, service.member_id_of(actor))
    return {"points": points, "stored_value": held}


@router.get("/")
def home(request: Request, session: Tx, actor: MemberPageDep) -> HTMLResponse:
    me = views.me_out(session, actor)
    return render(
        request,
        "m/me/home.html",
        section="home",
        me=me,
        member_code=_code(session, actor, "member code"),
        refresh=CODE_REFRESH_SECONDS,
        tier=views.tier_out(session, actor),
        **_balances(session, actor),
    )


@router.get("/code.json")
def code_json(session: Tx, actor: MemberPageDep) -> JSONResponse:
    """The member code now, for the home and pay pages' script (each minute, no reload)."""
    return JSONResponse(_code(session, actor, "member code"), headers={"Cache-Control": "no-store"})


@router.get("/pay")
def pay(request: Request, session: Tx, actor: MemberPageDep) -> HTMLResponse:
    """Paying with stored value: the same member code, with the balance to pay from."""
    return render(
        request,
        "m/me/pay.html",
        section="home",
        member_code=_code(session, actor, "member code"),
        refresh=CODE_REFRESH_SECONDS,
        **_balances(session, actor),
    )


@router.get("/points")
def points_page(
    request: Request, session: Tx, actor: MemberPageDep, cursor: str | None = None
) -> HTMLResponse:
    try:
        points = service.points(session, actor, cursor, 20)
    except PatronError:
        points = service.points(session, actor, None, 20)
    return render(
        request,
        "m/me/points.html",
        section="home",
        points=points,
        soon_days=service.EXPIRING_SOON.days,
    )


@router.get("/coupons")
def coupons_page(
    request: Request, session: Tx, actor: MemberPageDep, error: str = ""
) -> HTMLResponse:
    now = clock.now()
    groups = {}
    for status in (CouponStatus.available, CouponStatus.redeemed, CouponStatus.expired):
        page = service.coupons(session, actor, status, None, 50)
        groups[status.value] = coupon_presenters.coupons_out(session, list(page.items), now)
    return render(
        request,
        "m/me/coupons.html",
        section="home",
        groups=groups,
        notice=_notice(request),
        error=COUPON_ERRORS.get(error),
    )


COUPON_ERRORS = {
    "not_transferable": N_("m.coupons.not_transferable"),
    "unknown_member": N_("m.coupons.unknown_member"),
    "unavailable": N_("m.coupons.unavailable"),
    "bad_mobile": N_("m.login.bad_mobile"),
}


@router.post("/coupons/{code}/transfer")
def transfer(
    code: str, request: Request, session: Tx, actor: MemberPageDep, form: CheckedForm
) -> Response:
    try:
        mobile = normalize_mobile(text(form, "mobile"))
    except (ValueError, ValidationError):
        return redirect(f"{PREFIX}/coupons?error=bad_mobile")
    savepoint = session.begin_nested()
    try:
        service.transfer_coupon(session, actor, code, mobile)
    except PatronError as error:
        savepoint.rollback()
        kind = {
            "coupon_not_transferable": "not_transferable",
            "validation_error": "unknown_member",
        }.get(error.code, "unavailable")
        return redirect(f"{PREFIX}/coupons?error={kind}")
    savepoint.commit()
    return redirect(f"{PREFIX}/coupons?done=gift_sent")


@router.get("/tier")
def tier_page(request: Request, session: Tx, actor: MemberPageDep) -> HTMLResponse:
    return render(request, "m/me/tier.html", section="home", tier=views.tier_out(session, actor))


@router.get("/orders")
def orders_page(
    request: Request, session: Tx, actor: MemberPageDep, cursor: str | None = None
) -> HTMLResponse:
    filters = orders.OrderFilter(member_id=service.member_id_of(actor))
    try:
        page = orders.list_orders(session, actor, filters, cursor, 20)
    except PatronError:
        page = orders.list_orders(session, actor, filters, None, 20)
    return render(
        request,
        "m/me/orders.html",
        section="home",
        orders=order_presenters.present_all(session, page.items),
        next_cursor=page.next_cursor,
    )


@router.get("/count-cards")
def count_cards_page(request: Request, session: Tx, actor: MemberPageDep) -> HTMLResponse:
    held = cards.cards_of_member(session, actor, service.member_id_of(actor))
    return render(request, "m/me/count_cards.html", section="home", cards=held)


@router.get("/profile")
def profile_page(
    request: Request, session: Tx, actor: MemberPageDep, error: str = ""
) -> HTMLResponse:
    return render(
        request,
        "m/me/profile.html",
        section="profile",
        me=views.me_out(session, actor),
        notice=_notice(request),
        error=PROFILE_ERRORS.get(error),
    )


PROFILE_ERRORS = {
    "invalid": N_("m.profile.invalid"),
    "birthday_set": N_("m.profile.birthday_set"),
}


@router.post("/profile")
def save_profile(
    request: Request, session: Tx, actor: MemberPageDep, form: CheckedForm
) -> Response:
    values: dict[str, object] = {}
    if name := text(form, "name"):
        values["name"] = name
    if birthday := text(form, "birthday"):
        values["birthday"] = birthday
    if "email" in form:
        values["email"] = text(form, "email") or None
    try:
        data = MeUpdate.model_validate(values)
    except ValidationError:
        return redirect(f"{PREFIX}/profile?error=invalid")
    savepoint = session.begin_nested()
    try:
        service.update_profile(session, actor, data)
    except PatronError as error:
        savepoint.rollback()
        kind = "birthday_set" if error.code == "birthday_already_set" else "invalid"
        return redirect(f"{PREFIX}/profile?error={kind}")
    savepoint.commit()
    return redirect(f"{PREFIX}/profile?done=saved")


@router.post("/profile/consents/{channel}")
def save_consent(
    channel: str, request: Request, session: Tx, actor: MemberPageDep, form: CheckedForm
) -> Response:
    if channel in ConsentChannel.__members__:
        granted = form.get("granted") == "on"
        service.set_consent(session, actor, ConsentChannel(channel), granted)
    return redirect(f"{PREFIX}/profile?done=consent_saved")


@router.get("/profile/export")
def export(session: WriteTx, actor: MemberPageDep) -> Response:
    """My data (PIPL), as a JSON file to keep."""
    body = json.dumps(service.export(session, actor), ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/profile/erase")
def erase_page(request: Request, actor: MemberPageDep) -> HTMLResponse:
    return render(request, "m/me/erase.html", section="profile", error=None)


@router.post("/profile/erase")
def erase(request: Request, session: Tx, actor: MemberPageDep, form: CheckedForm) -> Response:
    if form.get("confirm") != "on":
        return render(
            request,
            "m/me/erase.html",
            status=422,
            section="profile",
            error=N_("m.erase.confirm_needed"),
        )
    service.erase(session, actor)
    response = redirect(f"{PREFIX}/login?erased=1")
    end_member_session(response)
    return response
