"""What every page of the member's own page (/m/, 会员中心) shares: the member session cookie,
CSRF, the device cookie, and mobile-first rendering in Chinese (default) or English.

Member sessions are apart from staff sessions: the cookie holds a member token (signed with
the member key, see core.security), read only here and by the member API."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from patron import __version__, deps
from patron.console.i18n import HTML_LANG, LANG_NAMES, install_gettext, translator
from patron.console.web import LANG_COOKIE, Tx, lang_of, settings_of
from patron.core import clock
from patron.core import text as text_rules
from patron.core.actor import Actor, member_actor
from patron.core.security import form_token, read_member_token
from patron.members.registry import find_active

PREFIX = "/m"
MEMBER_COOKIE = "patron_member"
DEVICE_COOKIE = "patron_device"
DEVICE_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
CSRF_FIELD = "csrf"
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
__all__ = ["LANG_COOKIE", "Tx"]


class MemberLoginRequired(Exception):
    """No valid member cookie: the browser goes to /m/login."""


def member_page_actor(request: Request, session: Tx) -> Actor:
    token = request.cookies.get(MEMBER_COOKIE)
    claims = read_member_token(settings_of(request).secret_key, token) if token else None
    if claims is None:
        raise MemberLoginRequired()
    deps.begin_transaction(session)
    member = find_active(session, claims.member_id)
    if member is None:
        raise MemberLoginRequired()
    actor = member_actor(member.id)
    request.state.actor = actor
    return actor


MemberPageDep = Annotated[Actor, Depends(member_page_actor)]


async def posted_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token matches the one bound to the member cookie (or,
    before sign-in, to the device cookie)."""
    form = await request.form()
    bound = request.cookies.get(MEMBER_COOKIE) or request.cookies.get(DEVICE_COOKIE)
    if not bound:
        raise MemberLoginRequired()
    sent = form.get(CSRF_FIELD)
    expected = form_token(settings_of(request).secret_key, bound)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise MemberLoginRequired()
    if not all(text_rules.storable(v) for _, v in form.multi_items() if isinstance(v, str)):
        raise MemberLoginRequired()
    return form


CheckedForm = Annotated[FormData, Depends(posted_form)]


def device_id(request: Request) -> str:
    """The browser's device id (a random cookie set on the first page): sign-ins and referrals
    record its hash."""
    return request.cookies.get(DEVICE_COOKIE, "")


def keep_device(request: Request, response: Response) -> None:
    if not request.cookies.get(DEVICE_COOKIE):
        response.set_cookie(
            DEVICE_COOKIE,
            request.state.new_device if hasattr(request.state, "new_device") else _new_device(),
            max_age=DEVICE_COOKIE_MAX_AGE,
            path=PREFIX,
            httponly=True,
            samesite="lax",
        )


def _new_device() -> str:
    return secrets.token_urlsafe(16)


def set_member_session(response: Response, token: str, expires_at: datetime) -> None:
    # A lifetime, not a date: the browser's clock need not agree with Patron's (tests pin it).
    response.set_cookie(
        MEMBER_COOKIE,
        token,
        max_age=max(1, int((expires_at - clock.now()).total_seconds())),
        path="/",
        httponly=True,
        samesite="lax",
    )


def end_member_session(response: Response) -> None:
    response.delete_cookie(MEMBER_COOKIE, path="/", httponly=True, samesite="lax")


install_gettext(templates.env)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A member page. Before sign-in the CSRF token is bound to the device cookie, which this
    response sets when the browser has none yet."""
    settings = settings_of(request)
    lang = lang_of(request)
    t = translator(lang)
    bound = request.cookies.get(MEMBER_COOKIE) or request.cookies.get(DEVICE_COOKIE)
    if not bound:
        bound = request.state.new_device = _new_device()
    base = {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "lang_names": LANG_NAMES,
        "here": request.url.path,
        "actor": getattr(request.state, "actor", None),
        "csrf": form_token(settings.secret_key, bound),
        "ts": t.moment,
        "day": t.day,
        "yuan": t.yuan,
        "num": t.num,
        "percent": t.percent,
        "version": __version__,
    }
    response = templates.TemplateResponse(
        request, template, base | context, status_code=status, headers=PAGE_HEADERS
    )
    keep_device(request, response)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request, _exc: Exception) -> Response:
    target = f"{PREFIX}/login"
    if request.method == "GET" and request.url.path.rstrip("/") != PREFIX:
        target += "?" + urlencode({"next": request.url.path})
    response = RedirectResponse(target, status_code=303)
    if request.cookies.get(MEMBER_COOKIE):
        end_member_session(response)
    return response
