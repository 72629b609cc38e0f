"""Schemathesis against the app as an integrator meets it: a live server on a free port, over a
freshly migrated database (SQLite, then PostgreSQL), every check on, a fixed seed. A finding of
any check fails the test, with schemathesis' report (each case with its curl line) as the reason.

Two passes per database: as an hq_admin (a fresh token for every case, since the probe signs
out and changes staff) and without a token. The run is bounded by examples, not by time, so the
same seed tries the same cases on any machine.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from click.testing import CliRunner
from schemathesis.auths import GLOBAL_AUTH_STORAGE
from schemathesis.cli import schemathesis as st
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session, sessionmaker

from patron.app import create_app
from patron.core import crypto, db, migrate, openapi, ttlcache
from patron.core.settings import Settings
from patron.staff import service as staff
from patron.staff.models import StaffUser
from tests import conftest
from tests.factories import make_member, make_order, make_staff, make_store

CONFIG = Path(__file__).with_name("schemathesis.toml")
pytestmark = pytest.mark.schemathesis


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    admin_id: int


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The app on a fresh, migrated and lightly seeded database, served by uvicorn."""
    data_dir = tmp_path_factory.mktemp("schemathesis")
    if request.param == "postgresql":
        if conftest._postgres_skip_reason:
            pytest.skip(conftest._postgres_skip_reason)
        url = conftest._create_postgres_database()
    else:
        url = f"sqlite:///{data_dir / 'patron.db'}"
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=conftest.TEST_SECRET,
        data_dir=data_dir,
        login_rate_limit="100000/minute",
        log_level="WARNING",
    )
    crypto.configure(settings.secret_key)
    ttlcache.clear_all()  # the other database's ladder, rules and keys must not serve this one
    engine = db.make_engine(url)
    try:
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        admin_id = _seed(sessions)
        with _serving(settings) as base_url:
            yield Served(base_url, settings, sessions, admin_id)
    finally:
        engine.dispose()
        if request.param == "postgresql":
            conftest._drop_postgres_database(url)


def _seed(sessions: sessionmaker[Session]) -> int:
    """A row of each kind at id 1, where the probe's boundary values look first."""
    with sessions.begin() as session:
        admin = make_staff(session, username="probe-admin")
        store = make_store(session, "P001")
        member = make_member(session, store)
        make_order(session, store, member)
        return admin.id


@contextmanager
def _serving(settings: Settings) -> Iterator[str]:
    """Uvicorn in a thread of this process, on a port the kernel picked."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def admin_tokens(served: Served) -> type:
    """An auth provider giving every case a fresh hq_admin token: the probe signs out as it goes
    (and may change the admin's password, which ends the admin's earlier tokens)."""

    class AdminToken:
        def get(self, case: Any, context: Any) -> str:
            with served.sessions() as session:
                admin = session.get(StaffUser, served.admin_id)
                assert admin is not None
                return staff.issue_token(admin, served.settings).token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return AdminToken


@schemathesis.check
def positive_data_acceptance_within_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' positive_data_acceptance (which schemathesis.toml turns off), save for the
    refusals the OpenAPI document names as beyond any schema: a 422 whose every field error has a
    code in `openapi.BEYOND_SCHEMA` or is about a member attribute (`attributes.<code>`, defined by
    HQ at run time), a login's 423 for an account locked by earlier tries, member sign-in's 429
    (codes asked for too often, a mobile locked by earlier wrong codes), and a segment rule
    that does not parse (422 `invalid_rule`)."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        body = response.json() if response.status_code in (422, 423, 429) else {}
        if response.status_code == 423 and body["code"] == "account_locked":
            return None
        # Member sign-in's limits hold whatever the body: codes asked for too often, a mobile
        # locked by earlier wrong codes.
        if response.status_code == 429 and body["code"] in ("code_send_limited", "sign_in_locked"):
            return None
        # A segment rule's grammar (a rule tag's, a preview's) is beyond what a schema can say.
        if response.status_code == 422 and body["code"] == "invalid_rule":
            return None
        errors = body.get("errors") or [{"code": "none listed", "field": ""}]
        if all(
            error["code"] in openapi.BEYOND_SCHEMA or error["field"].startswith("attributes.")
            for error in errors
        ):
            return None
        raise


def probe(served: Served, *options: str) -> None:
    args = [
        f"--config-file={CONFIG}",
        "--no-color",
        "run",
        f"{served.url}/openapi.json",
        *options,
    ]
    started = time.monotonic()
    result = CliRunner().invoke(st, args)
    took = time.monotonic() - started
    print(result.output)  # pytest shows it on a failure, or with -rP
    assert result.exit_code == 0, f"schemathesis found problems in {took:.0f} s (report above)"


def test_the_api_keeps_its_openapi_for_an_hq_admin(served: Served) -> None:
    schemathesis.auth(refresh_interval=None)(admin_tokens(served))
    try:
        probe(served, "--max-examples=30")
    finally:
        GLOBAL_AUTH_STORAGE.unregister()


def test_the_api_keeps_its_openapi_without_a_token(served: Served) -> None:
    probe(served, "--max-examples=5", "--phases=examples,coverage,fuzzing")
