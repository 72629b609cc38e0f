"""Signing in to the member page: the mobile, the code sent to it by SMS, then either the member's
page or, for a mobile no member holds, registration with consent asked (never pre-ticked) and an
optional invite code. Signing out, and the page's language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from patron.console.i18n import LANG_NAMES
from patron.console.message_ids import N_
from patron.console.web import LANG_COOKIE, LANG_COOKIE_MAX_AGE, text
from patron.core.errors import PatronError
from patron.core.text import refusal
from patron.member_auth import service
from patron.member_auth.errors import (
    CodeInvalid,
    CodeSendTooSoon,
    MemberInactive,
    RegistrationRequired,
    SignInLocked,
)
from patron.member_auth.limits import code_limits
from patron.member_page.web import (
    PREFIX,
    CheckedForm,
    Tx,
    device_id,
    end_member_session,
    redirect,
    render,
    set_member_session,
    settings_of,
)
from patron.members.models import ConsentChannel
from patron.members.schemas import normalize_mobile

router = APIRouter()
ERRORS = {
    CodeInvalid: N_("m.login.code_invalid"),
    SignInLocked: N_("m.login.locked"),
    CodeSendTooSoon: N_("m.login.too_soon"),
    MemberInactive: N_("m.login.inactive"),
}


def _client(request: Request) -> service.Client:
    return service.Client(device_id(request), request.client.host if request.client else "")


def _mobile(raw: str) -> str | None:
    try:
        return normalize_mobile(raw)
    except (ValueError, ValidationError):
        return None


def _error_id(error: PatronError) -> str:
    for kind, message_id in ERRORS.items():
        if isinstance(error, kind):
            return message_id
    return N_("m.login.failed")


def _invite(value: str) -> str:
    return value[:32] if value and refusal(value) is None else ""


@router.get("/login")
def login_page(request: Request, invite: str = "", erased: str = "") -> HTMLResponse:
    return render(
        request,
        "m/auth/login.html",
        step="mobile",
        mobile="",
        invite=_invite(invite),
        error=None,
        notice=N_("m.erase.done") if erased else None,
    )


@router.post("/login/code")
def send_code(request: Request, session: Tx, form: CheckedForm) -> HTMLResponse:
    raw, invite = text(form, "mobile"), _invite(text(form, "invite"))
    mobile = _mobile(raw)
    if mobile is None:
        return render(
            request,
            "m/auth/login.html",
            status=422,
            step="mobile",
            mobile=raw[:32],
            invite=invite,
            error=N_("m.login.bad_mobile"),
        )
    settings = settings_of(request)
    try:
        code_limits(request.app.state, settings).check(
            service.mobile_key(mobile), _client(request).address
        )
        service.send_code(session, mobile, service.Policy.from_settings(settings))
    except CodeSendTooSoon as error:
        # The code sent lately still works: the code step, with the refusal shown.
        return render(
            request,
            "m/auth/login.html",
            status=429,
            step="code",
            mobile=mobile,
            invite=invite,
            error=_error_id(error),
        )
    return render(
        request, "m/auth/login.html", step="code", mobile=mobile, invite=invite, error=None
    )


@router.post("/login/verify")
def verify(request: Request, session: Tx, form: CheckedForm) -> Response:
    mobile = _mobile(text(form, "mobile")) or ""
    code, invite = text(form, "code"), _invite(text(form, "invite"))
    settings = settings_of(request)
    try:
        signed = service.sign_in(
            session, mobile, code, service.Policy.from_settings(settings), _client(request)
        )
    except RegistrationRequired:
        return render(
            request, "m/auth/register.html", mobile=mobile, code=code, invite=invite, error=None
        )
    except PatronError as error:
        # Returning normally lets the session commit the counted failure (or the lock).
        status = error.status if error.status != 401 else 400
        return render(
            request,
            "m/auth/login.html",
            status=status,
            step="code",
            mobile=mobile,
            invite=invite,
            error=_error_id(error),
        )
    return _signed_in(signed)


@router.post("/register")
def register(request: Request, session: Tx, form: CheckedForm) -> Response:
    mobile = _mobile(text(form, "mobile")) or ""
    code, invite = text(form, "code"), _invite(text(form, "invite"))
    name = text(form, "name")[:50]
    if name and refusal(name) is not None:
        name = ""
    chosen = {channel: form.get(f"consent_{channel.value}") == "on" for channel in ConsentChannel}
    try:
        signed = service.register_member_from_page(
            session,
            service.Registration(mobile, code, name or None, chosen, invite or None),
            service.Policy.from_settings(settings_of(request)),
            _client(request),
        )
    except PatronError as error:
        return render(
            request,
            "m/auth/login.html",
            status=error.status if error.status != 401 else 400,
            step="code",
            mobile=mobile,
            invite=invite,
            error=_error_id(error),
        )
    return _signed_in(signed)


def _signed_in(signed: service.SignedIn) -> Response:
    response = redirect(f"{PREFIX}/")
    set_member_session(response, signed.token.token, signed.token.expires_at)
    return response


@router.post("/logout")
def logout(request: Request, form: CheckedForm) -> Response:
    response = redirect(f"{PREFIX}/login")
    end_member_session(response)
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str = "") -> RedirectResponse:
    target = (
        next
        if next.startswith(f"{PREFIX}/") and "//" not in next and "\\" not in next
        else f"{PREFIX}/"
    )
    response = RedirectResponse(target, status_code=303)
    if lang in LANG_NAMES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, path=PREFIX, samesite="lax"
        )
    return response
