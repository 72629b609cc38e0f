"""PostgreSQL for the race tests: a database of their own per module, and the app over it.
Races only show there: each request or thread has its own connection and commits for real."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.app import create_app
from patron.core import db, migrate
from patron.core.settings import Settings
from tests import conftest
from tests.factories import make_staff, staff_headers

_keys = itertools.count(1)


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    if conftest._postgres_skip_reason:
        pytest.skip(conftest._postgres_skip_reason)
    url = conftest._create_postgres_database()
    engine = db.make_engine(url, pool_size=25)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    conftest._drop_postgres_database(url)


@dataclass
class Api:
    """The app over the race database, called as an HQ admin (each call its own key)."""

    client: TestClient
    headers: dict[str, str]
    factory: sessionmaker[Session]
    settings: Settings

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {**self.headers, "Idempotency-Key": f"race-{next(_keys)}"}
        return self.client.request(method, f"/api/v1{path}", json=body or {}, headers=headers)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, body)


@pytest.fixture
def api(pg_engine: Engine, tmp_path: Path) -> Iterator[Api]:
    settings = Settings(
        env="test", database_url="sqlite://", secret_key=conftest.TEST_SECRET, data_dir=tmp_path
    )
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        headers = staff_headers(make_staff(session), settings)
    app = create_app(settings, session_factory=factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, headers, factory, settings)
