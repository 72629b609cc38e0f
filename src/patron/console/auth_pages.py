"""Signing in and out, and choosing the console's language."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from patron.console.forms import reason_text
from patron.console.i18n import LANG_NAMES, Translator
from patron.console.web import (
    LANG_COOKIE,
    LANG_COOKIE_MAX_AGE,
    PREFIX,
    SESSION_COOKIE,
    CheckedForm,
    PlainForm,
    Tx,
    redirect,
    render,
    safe_next,
    settings_of,
    t_for,
    text,
)
from patron.core.errors import PatronError
from patron.core.text import refusal
from patron.staff import service as staff

router = APIRouter()


@router.get("/login")
def login_page(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "login.html", username="", error=None, next=safe_next(next))


@router.post("/login")
def login(request: Request, session: Tx, form: PlainForm) -> Response:
    settings = settings_of(request)
    username = text(form, "username")
    target = safe_next(form.get("next"))
    client = request.client.host if request.client else "unknown"
    t = t_for(request)
    if not request.app.state.login_limiter.hit("login", client):
        return _login_failed(request, 429, t("login.rate_limited"), username, target)
    refused = refusal(username)
    if refused is not None:  # before the database is asked: PostgreSQL cannot even hold a NUL
        message = f"{t('field.username')}: {reason_text(refused.code, refused.message, t)}"
        return _login_failed(request, 422, message, "", target)
    password = text(form, "password", strip=False)
    policy = staff.LoginPolicy.from_settings(settings)
    try:
        user = staff.authenticate(session, username, password, policy)
    except (staff.InvalidCredentials, staff.AccountLocked) as error:
        # Returning normally lets the session dependency commit the counted failure (or lock).
        message = _login_error(error, t)
        return _login_failed(request, error.status, message, username, target)
    token = staff.issue_token(user, settings)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token.token,
        expires=token.expires_at,
        path=PREFIX,
        secure=settings.env == "production",
        httponly=True,
        samesite="strict",
    )
    return response


def _login_failed(
    request: Request, status: int, message: str, username: str, target: str
) -> HTMLResponse:
    return render(
        request, "login.html", status=status, username=username, error=message, next=target
    )


def _login_error(error: PatronError, t: Translator) -> str:
    if isinstance(error, staff.AccountLocked):
        until = error.extra.get("locked_until")
        shown = t.moment(datetime.fromisoformat(until)) if until else "—"
        return t("login.locked", until=shown)
    return t("login.invalid")


@router.post("/logout")
def logout(request: Request, session: Tx, _form: CheckedForm) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        staff.sign_out(session, settings_of(request), token)
    response = redirect(f"{PREFIX}/login", "flash.logged_out")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str = "") -> RedirectResponse:
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LANG_NAMES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, path=PREFIX, samesite="lax"
        )
    return response
