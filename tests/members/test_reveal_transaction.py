"""A GET that writes an audit row (the PII reveal, the export) runs in a writing transaction. On
SQLite a read-only (DEFERRED) transaction that reads, then meets a writer that commits first,
fails with 'database is locked'; a writing (IMMEDIATE) one waits for the lock and succeeds."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from patron.app import create_app
from patron.audit.models import AuditEntry
from patron.core import db, migrate
from patron.core.actor import Role
from patron.core.settings import Settings
from tests.conftest import TEST_SECRET
from tests.factories import make_member, make_staff, make_store, staff_headers


@pytest.mark.parametrize("path", ["/api/v1/members/{id}", "/api/v1/members/{id}/export"])
def test_a_revealing_get_waits_for_the_write_lock(tmp_path: Path, path: str) -> None:
    database = tmp_path / "patron.db"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        secret_key=TEST_SECRET,
        env="test",
        data_dir=tmp_path,
    )
    engine = db.make_engine(settings.database_url)
    migrate.upgrade(engine)
    with sessionmaker(engine, expire_on_commit=False).begin() as session:
        store = make_store(session)
        member = make_member(session, store)
        headers = staff_headers(make_staff(session, Role.hq_admin), settings)
    app = create_app(settings)
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    answers: list[Any] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        request = threading.Thread(
            target=lambda: answers.append(client.get(path.format(id=member.id), headers=headers))
        )
        request.start()
        time.sleep(0.5)  # the request has begun and waits on the lock
        blocker.execute("UPDATE members SET gender = gender WHERE id = ?", (member.id,))
        blocker.execute("COMMIT")
        request.join()
    blocker.close()
    assert answers[0].status_code == 200, answers[0].text
    with sessionmaker(engine).begin() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == str(member.id))
        ).all()
    assert {"member.reveal_pii", "member.export"} & set(actions)
    engine.dispose()
