"""SQLite's writers wait their turn in one queue per database file, in arrival order, and a
request that waits past its bound answers 503 with Retry-After instead of a 500."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from patron.app import create_app
from patron.core import db
from patron.core.settings import Settings
from tests.conftest import TEST_SECRET

WRITERS = 6


def _engine(path: Path, write_wait: float = 10.0) -> Engine:
    engine = db.make_engine(f"sqlite:///{path}", write_wait=write_wait)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS arrivals (seq INTEGER PRIMARY KEY, who INT)"
        )
    return engine


def _wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_concurrent_writers_all_commit_in_arrival_order(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "queue.db")
    queue = db.writer_queue(str(tmp_path / "queue.db"))
    failures: list[BaseException] = []

    def write(who: int) -> None:
        try:
            with sessionmaker(engine)() as session, session.begin():
                session.execute(text("INSERT INTO arrivals (who) VALUES (:who)"), {"who": who})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    holder = engine.connect()
    holder.begin()  # holds the write lock while the writers line up
    threads = []
    for who in range(WRITERS):
        thread = threading.Thread(target=write, args=(who,))
        thread.start()
        threads.append(thread)
        _wait_until(lambda n=who + 1: queue.waiting == n)
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(10)

    assert failures == []
    with engine.connect() as conn:
        order = conn.execute(text("SELECT who FROM arrivals ORDER BY seq")).scalars().all()
    assert order == list(range(WRITERS))
    assert queue.waiting == 0
    engine.dispose()


def test_a_writer_past_its_wait_gets_database_busy_and_the_queue_moves_on(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "bounded.db", write_wait=0.2)
    holder = engine.connect()
    holder.begin()
    started = time.monotonic()
    try:
        with sessionmaker(engine)() as session:
            session.execute(text("INSERT INTO arrivals (who) VALUES (1)"))
        raise AssertionError("the writer should have given up")
    except db.DatabaseBusy:
        assert 0.2 <= time.monotonic() - started < 2
    holder.rollback()
    holder.close()
    with sessionmaker(engine)() as session, session.begin():
        session.execute(text("INSERT INTO arrivals (who) VALUES (2)"))
    engine.dispose()


def test_a_request_waiting_past_the_bound_answers_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    engine = _engine(path, write_wait=0.2)
    settings = Settings(
        env="test", database_url=f"sqlite:///{path}", secret_key=TEST_SECRET, data_dir=tmp_path
    )
    app = create_app(settings, session_factory=sessionmaker(engine, expire_on_commit=False))
    holder = engine.connect()
    holder.begin()
    try:
        with TestClient(app) as client:
            response = client.post(
                "/api/v1/auth/token", json={"username": "someone", "password": "secret-enough"}
            )
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "service_unavailable"
    engine.dispose()


def _hold_lock_file(database: Path) -> int:
    """The writers' lock file taken as another process would (a descriptor of its own)."""
    fd = os.open(f"{database}{db.WRITER_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_writer_waits_for_another_process_and_gives_up_after_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "processes.db"
    engine = _engine(path, write_wait=0.2)
    holder = _hold_lock_file(path)
    started = time.monotonic()
    try:
        with pytest.raises(db.DatabaseBusy), sessionmaker(engine)() as session:
            session.execute(text("INSERT INTO arrivals (who) VALUES (1)"))
        assert 0.2 <= time.monotonic() - started < 2
    finally:
        os.close(holder)
    with sessionmaker(engine)() as session, session.begin():
        session.execute(text("INSERT INTO arrivals (who) VALUES (2)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM arrivals")).scalars().all() == [2]
    engine.dispose()


def test_a_writer_takes_its_turn_as_soon_as_the_other_process_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "handover.db"
    engine = _engine(path, write_wait=10.0)
    holder = _hold_lock_file(path)
    done = threading.Event()

    def write() -> None:
        with sessionmaker(engine)() as session, session.begin():
            session.execute(text("INSERT INTO arrivals (who) VALUES (1)"))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not done.wait(0.2)  # waiting for the other process
    os.close(holder)
    assert done.wait(2)
    thread.join()
    engine.dispose()
