"""What every console page shares: the session cookie, CSRF, flash messages and rendering."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron import __version__, deps
from patron.console.i18n import (
    DEFAULT_LANG,
    HTML_LANG,
    LANG_NAMES,
    Translator,
    has_key,
    install_gettext,
    translator,
)
from patron.console.permissions import Permissions
from patron.core import text as text_rules
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.core.permissions import Permission
from patron.core.security import form_token
from patron.core.settings import Settings

PREFIX = "/console"
SESSION_COOKIE = "patron_session"
FLASH_COOKIE = "patron_flash"
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
CSRF_FIELD = "csrf"
ERROR_FLASH = "flash.error."
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE_HEADERS = {
    # Pages carry personal data and CSRF tokens: keep them out of caches, and out of frames so
    # that no other site can trick a click on a console button.
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class LoginRequired(Exception):
    """No valid session cookie: the handler sends the browser to the login page."""


class ErrorPage(Exception):
    """Answer with the console's error page instead of the page asked for."""

    def __init__(self, status: int, message_key: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.message_key = message_key


# Function scope: the transaction commits when the handler returns, before the response leaves,
# so the page a redirect leads to already sees the write.
Tx = Annotated[Session, Depends(deps.get_session, scope="function")]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def console_actor(request: Request, session: Tx) -> Actor:
    token = request.cookies.get(SESSION_COOKIE)
    # A page that only reads runs in a read transaction (on SQLite a deferred one), as the API
    # does: it neither waits for the tills' writes nor holds them up while it renders.
    deps.begin_transaction(session)
    actor = deps.actor_from_token(session, settings_of(request), token) if token else None
    if actor is None:
        raise LoginRequired()
    request.state.actor = actor
    return actor


ConsoleActorDep = Annotated[Actor, Depends(console_actor)]


async def posted_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token matches the one bound to the session cookie."""
    form = await request.form()
    session_token = request.cookies.get(SESSION_COOKIE)
    if not session_token:
        raise LoginRequired()
    sent = form.get(CSRF_FIELD)
    expected = form_token(settings_of(request).secret_key, session_token)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ErrorPage(403, "error.csrf")
    # What no input of any form may hold (NUL and the like), before a page reads it; the
    # schemas a form fills say beside their fields what else a field refuses (a tab in a name).
    if not all(text_rules.storable(v) for _, v in form.multi_items() if isinstance(v, str)):
        raise ErrorPage(422, "error.control_character")
    return form


async def plain_form(request: Request) -> FormData:
    return await request.form()


CheckedForm = Annotated[FormData, Depends(posted_form)]
PlainForm = Annotated[FormData, Depends(plain_form)]


def require_console(actor: Actor, permission: Permission) -> None:
    """Show the console's 403 page unless the permission allows the signed-in actor."""
    if not permission.allows(actor):
        raise ErrorPage(403, "error.forbidden")


@contextmanager
def error_page_on(*kinds: type[PatronError]) -> Iterator[None]:
    """Show a service refusal of these kinds as the error page with the refusal's status."""
    try:
        yield
    except kinds as error:
        raise ErrorPage(error.status) from error


@contextmanager
def attempt(session: Session) -> Iterator[None]:
    """A savepoint around one service write whose refusal is shown in its form.

    The savepoint undoes whatever the write flushed before refusing, while the request's
    transaction stays open to render the form again; a refusal that keeps what it counted (a
    wrong payment password toward a lock-out) keeps it.
    """
    savepoint = session.begin_nested()
    try:
        yield
    except PatronError as error:
        if error.keeps_changes:
            savepoint.commit()
        else:
            savepoint.rollback()
        raise
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()


def text(form: FormData, name: str, strip: bool = True) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
    return lang if lang in LANG_NAMES else DEFAULT_LANG


def t_for(request: Request) -> Translator:
    return translator(lang_of(request))


def safe_next(target: object) -> str:
    """`target` when it is a console path, else the dashboard: no redirects off the site."""
    if isinstance(target, str) and target.startswith(PREFIX) and "\\" not in target:
        rest = target[len(PREFIX) :]
        if rest == "" or (rest.startswith(("/", "?")) and not rest.startswith("//")):
            return target
    return PREFIX + "/"


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def next_page_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    url = request.url.include_query_params(cursor=cursor)
    return f"{url.path}?{url.query}"


def first_page_url(request: Request) -> str | None:
    if "cursor" not in request.query_params:
        return None
    url = request.url.remove_query_params("cursor")
    return url.path + (f"?{url.query}" if url.query else "")


# --- flash messages: one short-lived cookie read by the page a redirect leads to --------------


def redirect(url: str, flash_key: str | None = None, name: str = "") -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if flash_key:
        raw = json.dumps([flash_key, name]).encode()
        value = base64.urlsafe_b64encode(raw).decode()
        response.set_cookie(
            FLASH_COOKIE, value, max_age=60, path=PREFIX, httponly=True, samesite="strict"
        )
    return response


@dataclass(frozen=True)
class Flash:
    text: str
    # A refusal told after a redirect (a key under "flash.error."), shown as an alert.
    error: bool = False


def read_flash(request: Request, t: Translator) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        key, name = json.loads(base64.urlsafe_b64decode(raw))
    except (ValueError, TypeError):
        return None
    if not (isinstance(key, str) and key.startswith("flash.") and has_key(key)):
        return None
    return Flash(t(key, name=str(name)), error=key.startswith(ERROR_FLASH))


# --- rendering --------------------------------------------------------------------------------


install_gettext(templates.env)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings = settings_of(request)
    lang = lang_of(request)
    t = translator(lang)
    actor: Actor | None = getattr(request.state, "actor", None)
    session_token = request.cookies.get(SESSION_COOKIE)
    flash = read_flash(request, t)
    base = {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "lang_names": LANG_NAMES,
        "here": here(request),
        "actor": actor,
        "can": Permissions.of(actor) if actor else None,
        "csrf": form_token(settings.secret_key, session_token) if session_token else "",
        "flash": flash,
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
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


def login_redirect(request: Request, _exc: Exception) -> Response:
    target = f"{PREFIX}/login"
    if request.method == "GET" and request.url.path.rstrip("/") != PREFIX:
        target += "?" + urlencode({"next": here(request)})
    response = RedirectResponse(target, status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


def error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ErrorPage)
    return render(request, "error.html", status=exc.status, code=exc.status, key=exc.message_key)
