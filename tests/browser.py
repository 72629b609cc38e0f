"""What every console browser test needs: Debian's chromium (never a downloaded browser), a real
server on a free loopback port holding the module's stores and staff, and a fresh browser page.
A browser test module defines a `server` fixture with `console_server`; `page` serves it."""

from __future__ import annotations

import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from patron.app import create_app
from patron.core import db, migrate
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.staff import service as staff_service
from patron.staff.schemas import StaffCreate
from patron.stores import service as store_service
from patron.stores.models import StoreType
from patron.stores.schemas import StoreCreate

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip the calling test module, with one line saying why, when chromium is missing."""
    if not CHROMIUM.exists():
        pytest.skip(
            "browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
            allow_module_level=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a thread; yields its base URL and stops it afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the console server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fresh_page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/$"))


@dataclass(frozen=True)
class StaffLogin:
    username: str
    password: str
    role: Role
    # The codes of the stores a store role works in; none for HQ roles, which see every store.
    store_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsoleServer:
    url: str
    sessions: sessionmaker[Session]
    store_ids: dict[str, int]
    # The server's secret: member-page tests sign the member cookie with it.
    secret_key: str = ""

    def store(self, code: str) -> int:
        return self.store_ids[code]


@contextmanager
def console_server(
    data_dir: Path, stores: dict[str, str], logins: Sequence[StaffLogin]
) -> Iterator[ConsoleServer]:
    """A real server on a fresh SQLite database holding the given stores (code → name, all owned)
    and staff. Stores and staff only: the PII key is process-wide and each test sets it anew, so
    members, their orders and their points are created inside the tests."""
    url = f"sqlite:///{data_dir / 'patron.db'}"
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        store_ids = {
            code: store_service.create_store(
                session, SYSTEM, StoreCreate(code=code, name=name, type=StoreType.owned)
            ).id
            for code, name in stores.items()
        }
        for login in logins:
            staff_service.create_staff(
                session,
                SYSTEM,
                StaffCreate(
                    username=login.username,
                    password=login.password,
                    role=login.role,
                    all_stores=not login.store_codes,
                    store_ids=[store_ids[code] for code in login.store_codes],
                ),
            )
    settings = Settings(
        database_url=url, secret_key=secrets.token_urlsafe(36), env="test", data_dir=data_dir
    )
    try:
        # The tasks its requests queue run in this process (immediate mode) on the process's
        # sessions, not the app's: on this database too, not the settings' default one.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(db, "_engine", engine)
            patch.setattr(db, "_session_factory", sessions)
            with serving(create_app(settings)) as base_url:
                yield ConsoleServer(base_url, sessions, store_ids, settings.secret_key)
    finally:
        engine.dispose()


# Per module: Playwright's sync API keeps an event loop running in this thread while a browser
# is open, which later tests of async code must not find.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, server: ConsoleServer) -> Iterator[Page]:
    """A fresh page on the `server` fixture of the calling test module."""
    with fresh_page(browser, server.url) as fresh:
        yield fresh
