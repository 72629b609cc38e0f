"""A worker killed mid-delivery (SIGKILL while the receiver holds its request) loses its task;
the delivery's lease runs out, the sweep queues it again, and another worker delivers it: the
receiver sees the same webhook-id twice (at-least-once), and the delivery ends `succeeded`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from patron.core import db, migrate
from patron.webhooks.models import WebhookDelivery
from tests import conftest
from tests.webhooks.helpers import endpoint, outbox

ROOT = Path(__file__).resolve().parents[2]


def _start(args: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen[str], str]:
    """The process, started in a session of its own, once it printed its `ready` line."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith(ready), line
    return process, line.removeprefix(ready).strip()


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _wait(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kill.db'}"
        return
    if conftest._postgres_skip_reason:
        pytest.skip(conftest._postgres_skip_reason)
    url = conftest._create_postgres_database()
    try:
        yield url
    finally:
        conftest._drop_postgres_database(url)


def test_a_delivery_whose_worker_is_killed_is_delivered_by_its_retry(
    database: str, tmp_path: Path
) -> None:
    engine = db.make_engine(database)
    migrate.upgrade(engine)
    processes: list[subprocess.Popen[str]] = []
    try:
        log = tmp_path / "received.log"
        receiver, port = _start(
            ["bench/webhook_receiver.py", "--log", str(log), "--hold-first"],
            dict(os.environ),
            "listening",
        )
        processes.append(receiver)
        env = dict(
            os.environ,
            PATRON_ENV="test",
            PATRON_DATABASE_URL=database,
            PATRON_DATA_DIR=str(tmp_path),
            PATRON_SECRET_KEY=conftest.TEST_SECRET,
            PATRON_WEBHOOK_TIMEOUT="1",
        )
        factory = sessionmaker(engine, expire_on_commit=False)
        with factory.begin() as session:
            endpoint(session, f"http://127.0.0.1:{port}/hook")
            [event] = outbox(session)

        def received() -> list[str]:
            return log.read_text().split() if log.exists() else []

        first, _ = _start(
            ["bench/webhook_consumer.py", "--workers", "1", "--relay"], env, "consuming"
        )
        processes.append(first)
        _wait(lambda: received() == [f"evt_{event}"], 30)
        _kill(first)  # mid-delivery: the receiver still holds the request

        with factory() as session:
            held = session.scalars(select(WebhookDelivery)).one()
            assert (held.status, held.attempts) == ("pending", 0)

        second, _ = _start(
            ["bench/webhook_consumer.py", "--workers", "1", "--sweep-every", "0.5"],
            env,
            "consuming",
        )
        processes.append(second)

        def delivered() -> bool:
            with factory() as session:
                return session.scalars(select(WebhookDelivery.status)).one() == "succeeded"

        _wait(delivered, 40)
        assert received() == [f"evt_{event}", f"evt_{event}"]
        with factory() as session:
            done = session.scalars(select(WebhookDelivery)).one()
            assert done.attempts == 1
            assert done.response_code == 200
    finally:
        for process in processes:
            _kill(process)
        engine.dispose()
