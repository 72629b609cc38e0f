"""A GET that writes an audit row (a PII reveal, an export, an identity lookup) runs in a writing
transaction. On SQLite a read-only (DEFERRED) transaction that reads, then meets a writer that
commits first, fails with 'database is locked'; a writing (IMMEDIATE) one waits for the lock and
succeeds, and one that waits past the request's bound answers 503 with Retry-After."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from patron import app as patron_app
from patron.app import create_app
from patron.audit.models import AuditEntry
from patron.console.web import SESSION_COOKIE
from patron.core import clock, db, migrate
from patron.core.actor import SYSTEM, Role
from patron.core.security import issue_member_token
from patron.core.settings import Settings
from patron.deps import _needs, write_session
from patron.member_page.web import MEMBER_COOKIE
from patron.members import codes, identities
from patron.members.models import IdentityType
from patron.members.schemas import IdentityIn
from patron.segments import service as segments
from patron.segments.schemas import SegmentIn
from patron.staff import service as staff
from tests.conftest import TEST_SECRET
from tests.core.test_read_only_gets import _get_routes
from tests.factories import make_member, make_staff, make_store

MOBILE = "13912345678"
CARD = "CARD0001"


@dataclass(frozen=True)
class Case:
    path: str
    query: dict[str, str]
    action: str
    entity: str = "member"  # what the audit entry is about: values[f"{entity}_id"]


# Every GET that writes, with a query that makes it write, and the audit entry it leaves.
CASES = [
    Case("/api/v1/members/{member_id}", {}, "member.reveal_pii"),
    Case("/api/v1/members/{member_id}/export", {}, "member.export"),
    Case("/api/v1/members", {"mobile": MOBILE}, "member.lookup"),
    Case("/api/v1/members", {"card_no": CARD}, "member.lookup"),
    Case("/api/v1/member-codes/{code}", {}, "member.lookup"),
    Case("/console/members", {"q": MOBILE}, "member.lookup"),
    Case("/console/members/{member_id:int}", {}, "member.reveal_pii"),
    Case("/console/members/{member_id:int}/edit", {}, "member.reveal_pii"),
    Case("/console/members/{member_id:int}/erase", {}, "member.reveal_pii"),
    Case("/console/members/{member_id:int}/merge", {"source": "{source_id}"}, "member.reveal_pii"),
    Case("/console/members/{member_id:int}/points", {}, "member.reveal_pii"),
    Case("/api/v1/segments/{segment_id}/export", {}, "segment.export", "segment"),
    Case("/console/segments/{segment_id:int}/export", {}, "segment.export", "segment"),
    # The member's own copy (PIPL), from the member API and the member page.
    Case("/api/v1/me/export", {}, "member.export"),
    Case("/m/profile/export", {}, "member.export"),
    # A member's own: the invite code drawn on first ask (with the member's token).
    Case("/api/v1/me/referral", {}, "referrals.code"),
    Case("/m/invite", {}, "referrals.code"),
]


@dataclass(frozen=True)
class Shop:
    database: Path
    engine: Engine
    settings: Settings
    token: str
    values: dict[str, str]
    member_token: str = ""

    def url(self, template: str) -> str:
        for name, value in self.values.items():
            template = template.replace(f"{{{name}:int}}", value).replace(f"{{{name}}}", value)
        return template

    def get(self, client: TestClient, case: Case) -> Any:
        query = {k: self.url(v) for k, v in case.query.items()}
        own = case.path.startswith(("/api/v1/me/", "/m/"))
        token = self.member_token if own else self.token
        client.cookies.set(SESSION_COOKIE, self.token, path="/console")
        client.cookies.set(MEMBER_COOKIE, self.member_token, path="/")
        return client.get(
            self.url(case.path), params=query, headers={"Authorization": f"Bearer {token}"}
        )

    def actions(self, entity_id: str, entity: str = "member") -> list[str]:
        """The audit entries about this member (or other entity)."""
        query = select(AuditEntry.action).where(
            AuditEntry.entity_type == entity, AuditEntry.entity_id == entity_id
        )
        with sessionmaker(self.engine).begin() as session:
            return list(session.scalars(query))


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    database = tmp_path / "patron.db"
    settings = Settings(
        database_url=f"sqlite:///{database}", secret_key=TEST_SECRET, env="test", data_dir=tmp_path
    )
    engine = db.make_engine(settings.database_url)
    migrate.upgrade(engine)
    with sessionmaker(engine, expire_on_commit=False).begin() as session:
        store = make_store(session)
        member = make_member(session, store, mobile=MOBILE)
        card = IdentityIn(type=IdentityType.card_no, value=CARD)
        identities.add_identity(session, SYSTEM, member, card)
        values = {
            "member_id": str(member.id),
            "source_id": str(make_member(session, store).id),
            "code": codes.issue_code(session, SYSTEM, member.id).code,
            "segment_id": str(
                segments.create(
                    session, SYSTEM, SegmentIn(name="全部", rule="frequency >= 0"), clock.now()
                ).id
            ),
        }
        token = staff.issue_token(make_staff(session, Role.hq_admin), settings).token
        member_token = issue_member_token(TEST_SECRET, member.id, timedelta(days=1)).token
    yield Shop(database, engine, settings, token, values, member_token)
    engine.dispose()


def test_every_get_that_writes_is_tested_here() -> None:
    app = create_app(Settings(env="test", database_url="sqlite://", secret_key="k" * 40))
    routes = _get_routes(app).items()
    writing = {path for path, route in routes if _needs(route.dependant, write_session)}
    assert writing == {case.path for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.path}?{'&'.join(c.query)}")
def test_a_get_that_writes_waits_for_the_write_lock(shop: Shop, case: Case) -> None:
    blocker = sqlite3.connect(shop.database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    answers: list[Any] = []
    with TestClient(create_app(shop.settings), raise_server_exceptions=False) as client:
        request = threading.Thread(target=lambda: answers.append(shop.get(client, case)))
        request.start()
        time.sleep(0.5)  # the request has begun and waits on the lock
        blocker.execute(
            "UPDATE members SET gender = gender WHERE id = ?", (shop.values["member_id"],)
        )
        blocker.execute("COMMIT")
        request.join()
    blocker.close()
    assert answers[0].status_code == 200, answers[0].text
    assert case.action in shop.actions(shop.values[f"{case.entity}_id"], case.entity)


@pytest.mark.parametrize("case", [CASES[0], CASES[5]], ids=["api", "console"])
@pytest.mark.parametrize("holder", ["another_process", "this_process"])
def test_a_get_that_writes_answers_503_when_the_wait_runs_out(
    shop: Shop, case: Case, holder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the lock past SQLite's busy timeout, or a writer of this process
    keeps its turn in the writer queue past the request's bound: 503, never 500."""
    monkeypatch.setattr(patron_app, "REQUEST_WRITE_WAIT_SECONDS", 0.3)
    app = create_app(shop.settings)
    with _write_lock_held(shop, holder), TestClient(app, raise_server_exceptions=False) as client:
        started = time.monotonic()
        response = shop.get(client, case)
        waited = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "service_unavailable"
    assert 0.3 <= waited < 3
    assert case.action not in shop.actions(shop.values["member_id"])


@contextmanager
def _write_lock_held(shop: Shop, holder: str) -> Iterator[None]:
    if holder == "this_process":  # the engine shares the app's writer queue for the file
        with shop.engine.connect() as connection, connection.begin():
            connection.exec_driver_sql("SELECT 1")
            yield
        return
    blocker = sqlite3.connect(shop.database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
