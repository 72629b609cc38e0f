"""Every database test runs twice: on SQLite and on PostgreSQL, each test in a rolled-back
transaction. Where no PostgreSQL answers, that half is skipped with one line saying so."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher, profiles
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from patron import domains
from patron.app import create_app
from patron.console.web import LANG_COOKIE, SESSION_COOKIE
from patron.core import clock, crypto, db, migrate, security, ttlcache
from patron.core.actor import Role
from patron.core.security import form_token
from patron.core.settings import Settings
from patron.staff import service as staff
from patron.stores.models import Store
from tests.factories import make_staff

# The browser tests' shared fixtures (`browser`, `page`) and server, in one place.
pytest_plugins = ["tests.browser"]

POSTGRES_ADMIN_URL = os.environ.get(
    "PATRON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_postgres_skip_reason: str | None = None
# A test's examples hit a real database: their time says how busy the machine is, not whether
# the code is right, so no per-example deadline (a loaded CI machine failed on it).
hypothesis_settings.register_profile("patron", deadline=None)
hypothesis_settings.load_profile("patron")
TEST_SECRET = "test-secret-" + "k3J9vQ2xL8pZr4T0wYb6NcH1sFmDgA7e"


def _postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return (
            f"PostgreSQL half skipped: no server at {POSTGRES_ADMIN_URL} ({exc.__class__.__name__})"
        )


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def pytest_configure(config: pytest.Config) -> None:
    global _postgres_skip_reason
    _postgres_skip_reason = _postgres_available()
    # As the app and the CLI do: a test of one service runs with every domain's hooks in place,
    # whichever modules it imports itself.
    domains.load()


def pytest_report_header(config: pytest.Config) -> str:
    return _postgres_skip_reason or f"PostgreSQL half: {POSTGRES_ADMIN_URL}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _postgres_skip_reason:
        terminalreporter.write_line(_postgres_skip_reason, yellow=True)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest parameters: the same code path, a fraction of the time."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture(autouse=True)
def _pii_key() -> None:
    crypto.configure(TEST_SECRET)


@pytest.fixture(autouse=True)
def _release_clock() -> Iterator[None]:
    yield
    clock.set_now(None)


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test's rows are rolled back; so must be what a process cached from them."""
    ttlcache.clear_all()


def _create_postgres_database() -> str:
    name = f"patron_test_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False))


def _drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'patron.db'}"
        return
    if _postgres_skip_reason:
        pytest.skip(_postgres_skip_reason)
    url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


def _session_on(connection: Connection) -> Session:
    return Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with _session_on(connection) as session:
        yield session


@pytest.fixture
def sessions(connection: Connection) -> Callable[[], Session]:
    """New sessions inside the test's transaction, each a savepoint: the session factory for
    code that commits its own transactions (imports, in batches)."""
    return lambda: _session_on(connection)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        login_rate_limit="1000/minute",
        # Uploaded imports run in the request, inside the test's transaction (no thread may
        # share its connection); tests/concurrency runs them on threads.
        import_workers=0,
    )


@pytest.fixture
def make_app(
    connection: Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., FastAPI]:
    """An app whose requests run inside the test's transaction (each one a savepoint), and so
    do the tasks they queue: the queue is in immediate mode, its tasks run in this process on
    the process's sessions (`db.session_factory`, not the app's), which would otherwise open
    the settings' default database (./var/patron.db), not the test's."""
    monkeypatch.setattr(db, "_engine", connection.engine)
    monkeypatch.setattr(db, "_session_factory", lambda: _session_on(connection))

    def build(**overrides: object) -> FastAPI:
        return create_app(
            settings.model_copy(update=overrides), session_factory=lambda: _session_on(connection)
        )

    return build


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: object) -> None:
        self.count += 1


@pytest.fixture
def count_queries(connection: Connection) -> Iterator[QueryCounter]:
    counter = QueryCounter()
    event.listen(connection, "before_cursor_execute", counter)
    yield counter
    event.remove(connection, "before_cursor_execute", counter)


@pytest.fixture
def signed_in(
    app: FastAPI, session: Session, settings: Settings
) -> Iterator[Callable[..., TestClient]]:
    """`signed_in(role, stores, lang="zh")`: a console client of a new staff user; its
    `headers["x-csrf"]` holds the form token."""
    with ExitStack() as stack:

        def client(role: Role, stores: list[Store] | None = None, lang: str = "zh") -> TestClient:
            token = staff.issue_token(make_staff(session, role, stores), settings).token
            test_client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
            test_client.cookies.set(SESSION_COOKIE, token, path="/console")
            test_client.cookies.set(LANG_COOKIE, lang, path="/console")
            test_client.headers["x-csrf"] = form_token(settings.secret_key, token)
            return test_client

        yield client
