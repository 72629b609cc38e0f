"""A request whose transaction loses a lock race (PostgreSQL picks it as a deadlock's victim or
refuses it for a serialization conflict; SQLite cannot give it its lock) runs again inside the
request, from nothing: its idempotency key, audit entries and outbox events were in the rolled
back transaction. After TRANSACTION_ATTEMPTS it answers 503 with Retry-After, never 500. The
lost race is forced here, at the end of the work, so that every write before it is undone."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.errors import DeadlockDetected, SerializationFailure
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from patron import deps
from patron.audit.models import AuditEntry
from patron.console.web import CSRF_FIELD, SESSION_COOKIE
from patron.core.events import OutboxEvent
from patron.core.idempotency import IdempotencyRecord
from patron.core.security import form_token
from patron.core.settings import Settings
from patron.members import merge as member_merge
from patron.members.models import Member
from patron.orders.events import ORDER_COMPLETED
from patron.orders.models import Order
from patron.staff import service as staff
from tests.factories import auth, make_api_key, make_member, make_staff, make_store, order_body

LOST_RACES = {
    "deadlock": lambda: DeadlockDetected("deadlock detected"),
    "serialization": lambda: SerializationFailure("could not serialize access"),
    "sqlite_locked": lambda: sqlite3.OperationalError("database is locked"),
}
ALWAYS = 1_000


class Flaky:
    """Raises `error` on its first `failures` calls, then lets the work through."""

    def __init__(self, error: Callable[[], Exception], failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    def __call__(self, *_: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("INSERT INTO points_entries ...", {}, self.error())


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deps, "RETRY_PAUSE_SECONDS", 0)


@pytest.fixture
def quiet(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def till(session: Session) -> dict[str, Any]:
    store = make_store(session)
    member = make_member(session, store)
    return {"store": store, "member": member, "headers": auth(make_api_key(session, [store]))}


@pytest.fixture
def on_order() -> Iterator[Callable[[Flaky], Flaky]]:
    """Installs a Flaky as an `order.completed` subscriber: it runs after the key's claim, the
    order, its audit entry and its outbox event are written, inside their transaction."""

    def install(flaky: Flaky) -> Flaky:
        ORDER_COMPLETED.subscribers.register("test.flaky")(flaky)
        return flaky

    yield install
    ORDER_COMPLETED.subscribers.unregister("test.flaky")


def post_order(client: TestClient, till: dict[str, Any], key: str) -> Any:
    body = order_body(till["store"], "RETRY-1", member_id=till["member"].id)
    return client.post(
        "/api/v1/orders", json=body, headers={**till["headers"], "Idempotency-Key": key}
    )


def written(session: Session) -> tuple[int, int, int, int]:
    """Orders, their audit entries, outbox events and idempotency records."""
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).where(*where))
        for where in (
            (Order.external_id == "RETRY-1",),
            (AuditEntry.action == "order.create",),
            (OutboxEvent.type == ORDER_COMPLETED.name,),
            (IdempotencyRecord.scope == "POST /orders",),
        )
    )


@pytest.mark.parametrize("race", sorted(LOST_RACES))
def test_an_order_that_loses_a_lock_race_once_is_taken_once(
    client: TestClient,
    session: Session,
    till: dict[str, Any],
    on_order: Callable[[Flaky], Flaky],
    race: str,
) -> None:
    flaky = on_order(Flaky(LOST_RACES[race], failures=1))
    first = post_order(client, till, "k-1")
    assert first.status_code == 201, first.text
    assert flaky.calls == 2
    assert written(session) == (1, 1, 1, 1)
    replay = post_order(client, till, "k-1")
    assert (replay.status_code, replay.json()) == (200, first.json())
    assert flaky.calls == 2
    points = client.get(f"/api/v1/members/{till['member'].id}/points", headers=till["headers"])
    assert points.json()["available"] == 120  # earned once


def test_an_order_that_keeps_losing_answers_503_and_keeps_nothing(
    quiet: TestClient, session: Session, till: dict[str, Any], on_order: Callable[[Flaky], Flaky]
) -> None:
    flaky = on_order(Flaky(LOST_RACES["deadlock"], failures=ALWAYS))
    refused = post_order(quiet, till, "k-1")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "service_unavailable"
    assert flaky.calls == deps.TRANSACTION_ATTEMPTS
    assert written(session) == (0, 0, 0, 0)
    flaky.failures = 0  # the race is over: the same key now takes the order
    assert post_order(quiet, till, "k-1").status_code == 201
    assert written(session) == (1, 1, 1, 1)


def test_a_body_too_large_to_keep_answers_503_at_once(
    quiet: TestClient,
    session: Session,
    till: dict[str, Any],
    on_order: Callable[[Flaky], Flaky],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deps, "REPLAY_LIMIT_BYTES", 100)
    flaky = on_order(Flaky(LOST_RACES["deadlock"], failures=1))
    refused = post_order(quiet, till, "k-1")
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert flaky.calls == 1
    assert written(session) == (0, 0, 0, 0)


def test_other_database_errors_are_not_run_again(
    quiet: TestClient, session: Session, till: dict[str, Any], on_order: Callable[[Flaky], Flaky]
) -> None:
    flaky = on_order(Flaky(lambda: sqlite3.OperationalError("disk I/O error"), failures=1))
    assert post_order(quiet, till, "k-1").status_code == 500
    assert flaky.calls == 1
    assert written(session) == (0, 0, 0, 0)


@pytest.fixture
def on_merge() -> Iterator[Callable[[Flaky], Flaky]]:
    def install(flaky: Flaky) -> Flaky:
        member_merge.on_merge.register("test.flaky")(flaky)
        return flaky

    yield install
    member_merge.on_merge.unregister("test.flaky")


def test_a_merge_that_loses_a_lock_race_once_merges_once(
    client: TestClient, session: Session, settings: Settings, on_merge: Callable[[Flaky], Flaky]
) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    flaky = on_merge(Flaky(LOST_RACES["deadlock"], failures=2))
    response = client.post(
        "/api/v1/members/merge",
        json={"source_id": source.id, "target_id": target.id},
        headers=auth(staff.issue_token(make_staff(session), settings).token),
    )
    assert response.status_code == 200, response.text
    assert flaky.calls == 3
    audited = select(func.count()).where(AuditEntry.action == "member.merge")
    assert session.scalar(audited) == 1


@pytest.mark.parametrize(("failures", "status"), [(1, 303), (ALWAYS, 503)])
def test_a_console_page_that_loses_a_lock_race_runs_again(
    quiet: TestClient,
    session: Session,
    settings: Settings,
    on_merge: Callable[[Flaky], Flaky],
    failures: int,
    status: int,
) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    flaky = on_merge(Flaky(LOST_RACES["deadlock"], failures=failures))
    token = staff.issue_token(make_staff(session), settings).token
    quiet.cookies.set(SESSION_COOKIE, token, path="/console")
    form = {CSRF_FIELD: form_token(settings.secret_key, token), "source_id": str(source.id)}
    response = quiet.post(f"/console/members/{target.id}/merge", data=form, follow_redirects=False)
    assert response.status_code == status
    assert flaky.calls == min(failures + 1, deps.TRANSACTION_ATTEMPTS)
    merged = session.get(Member, source.id)
    assert merged is not None
    session.refresh(merged)
    assert merged.status == ("merged" if status == 303 else "active")


def test_only_lost_lock_races_count_as_transient() -> None:
    from patron.core import db

    def wrapped(error: Exception) -> DBAPIError:
        return OperationalError("SELECT 1", {}, error)

    assert all(db.transient(wrapped(make())) for make in LOST_RACES.values())
    assert not db.transient(wrapped(sqlite3.OperationalError("no such table: x")))
    assert not db.transient(DeadlockDetected("not wrapped by SQLAlchemy"))
