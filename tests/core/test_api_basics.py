from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from patron.app import create_app
from patron.core import db
from patron.core.settings import Settings
from patron.deps import SessionDep
from patron.stores.models import Store
from tests.factories import make_staff, make_store, staff_headers

# Past PostgreSQL's INTEGER (2**31) and past SQLite's 64-bit INTEGER (10**20).
TOO_BIG = (2**31, 10**20)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_healthz_checks_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_healthz_answers_503_when_the_database_is_unreachable(
    settings: Settings, tmp_path: Path
) -> None:
    unreachable = db.make_engine(
        "postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    app = create_app(settings, session_factory=sessionmaker(unreachable))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_unavailable"


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/stores",
        "/api/v1/staff/{staff_id}",
        "/api/v1/auth/token",
        "/api/v1/audit",
    ):
        assert path in paths


def test_validation_error_is_a_problem_naming_the_fields(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    response = client.post(
        "/api/v1/stores",
        json={"code": "bad code!", "type": "kiosk"},
        headers=staff_headers(admin, settings),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["status"] == 422
    assert body["type"].endswith("/validation_error")
    assert {e["field"] for e in body["errors"]} == {"code", "type", "name"}


def test_malformed_json_is_a_problem(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_missing_token_is_401_with_a_problem(client: TestClient) -> None:
    response = client.get("/api/v1/stores")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_each_request_gets_a_request_id(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert first
    assert second
    assert first != second


def test_a_sane_incoming_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/api/v1/stores", headers={"X-Request-ID": "pos-4711-abcdef"})
    assert response.headers["x-request-id"] == "pos-4711-abcdef"
    assert response.json()["request_id"] == "pos-4711-abcdef"
    hostile = client.get("/healthz", headers={"X-Request-ID": "x\u0000" * 3})
    assert hostile.headers["x-request-id"] != "x\u0000" * 3


def test_access_log_lines_carry_the_request_id(
    settings: Settings, make_app: object, capsys: object
) -> None:
    import json

    import pytest

    assert callable(make_app)
    assert isinstance(capsys, pytest.CaptureFixture)
    with TestClient(make_app()) as client:
        request_id = client.get("/healthz").headers["x-request-id"]
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line["logger"] == "patron.access"]
    assert any(line["request_id"] == request_id and line["status"] == 200 for line in access)


def test_a_failed_commit_is_an_error_not_a_success(
    make_app: Callable[..., FastAPI], session: Session, settings: Settings
) -> None:
    app = make_app()
    build_session = app.state.session_factory

    def failing_commit() -> Session:
        request_session = build_session()

        def commit() -> None:
            raise OperationalError("COMMIT", {}, Exception("disk full"))

        request_session.commit = commit  # type: ignore[method-assign]
        return request_session

    app.state.session_factory = failing_commit
    headers = staff_headers(make_staff(session), settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/stores", json={"code": "X1", "name": "x", "type": "owned"}, headers=headers
        )
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"


def test_an_unexpected_error_keeps_its_request_id(
    make_app: Callable[..., FastAPI], capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app()

    def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/api/v1/_boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/_boom", headers={"X-Request-ID": "boom-0001"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "boom-0001"
    assert response.json()["request_id"] == "boom-0001"
    assert response.json()["code"] == "internal_error"
    errors = [line for line in log_lines(capsys) if line["logger"] == "patron.errors"]
    assert [line["request_id"] for line in errors] == ["boom-0001"]
    assert "RuntimeError: boom" in errors[0]["exc"]


def test_ids_beyond_the_id_range_are_422(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    for big in TOO_BIG:
        for method, path in (
            ("GET", f"/api/v1/staff/{big}"),
            ("GET", f"/api/v1/members/{big}"),
            ("GET", f"/api/v1/orders/{big}"),
            ("GET", f"/api/v1/staff?store_id={big}"),
            ("PATCH", f"/api/v1/staff/{big}"),
            ("POST", f"/api/v1/points/adjustments/{big}/approve"),
        ):
            response = client.request(method, path, json={}, headers=headers)
            assert response.status_code == 422, (method, path)
            assert response.json()["code"] == "validation_error"
            assert "out of range" in response.json()["detail"]


def test_a_cursor_beyond_the_id_range_is_422(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)

    def page(raw: str) -> int:
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return client.get("/api/v1/staff", params={"cursor": cursor}, headers=headers).status_code

    assert page(f"id:{2**31 - 1}") == 200
    for raw in ("id:" + "9" * 30, f"id:{2**31}", "id:0", "id:-5", "id: 7", "id:"):
        assert page(raw) == 422, raw


def test_a_number_beyond_a_column_range_in_a_body_is_422(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    for big in TOO_BIG:
        body = {"username": "big", "password": "Passw0rd!", "role": "cashier", "store_ids": [big]}
        response = client.post("/api/v1/staff", json=body, headers=headers)
        assert response.status_code == 422, big
        assert response.json()["code"] == "validation_error"


def test_a_number_beyond_a_column_range_writes_nothing(
    make_app: Callable[..., FastAPI], session: Session
) -> None:
    app = make_app()

    def write_then_overflow(request_session: SessionDep) -> None:
        make_store(request_session, "OVER1")
        request_session.get(Store, 10**20)

    app.add_api_route("/api/v1/_overflow", write_then_overflow, methods=["POST"])
    with TestClient(app) as client:
        response = client.post("/api/v1/_overflow")
    assert response.status_code == 422
    assert "out of range" in response.json()["detail"]
    assert session.scalar(select(Store).where(Store.code == "OVER1")) is None
