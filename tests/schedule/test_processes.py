"""`patron serve` (without Redis) and `patron worker --schedule` as an operator starts them: the
schedule's first check runs the jobs due, through the queue and a consumer in that process, and
SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import db
from patron.schedule.models import JobRun
from tests.browser import free_port

# 10:00 in Shanghai: the hourly `points` job is due at this tick.
NOW = "2027-01-01T10:00:00+08:00"


def patron(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from patron.cli import app; app()", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def scheduled_runs(url: str) -> list[tuple[str, str]]:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            runs = session.execute(
                select(JobRun.job, JobRun.status).where(JobRun.trigger == "schedule")
            )
            return [(job, status) for job, status in runs]
    finally:
        engine.dispose()


def healthz(port: int, deadline: float) -> int:
    """The server's answer, once its workers have started (slowly, on a loaded machine)."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
                return int(answer.status)
        except OSError:
            if time.monotonic() > deadline + 60:
                raise
            time.sleep(0.5)


@pytest.mark.parametrize(
    "command",
    [("serve", "--workers", "2", "--port", "{port}"), ("worker", "--schedule")],
    ids=["serve", "worker"],
)
def test_the_process_runs_the_schedule(tmp_path: Path, command: tuple[str, ...]) -> None:
    url = f"sqlite:///{tmp_path / 'patron.db'}"
    env = {
        **os.environ,
        "PATRON_DATABASE_URL": url,
        "PATRON_DATA_DIR": str(tmp_path),
        "PATRON_REDIS_URL": "",
    }
    upgraded = subprocess.run(
        [sys.executable, "-c", "from patron.cli import app; app()", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stderr[-800:]
    port = free_port()
    process = patron(env, "--now", NOW, *(a.format(port=port) for a in command))
    try:
        deadline = time.monotonic() + 60  # a loaded machine starts processes slowly
        while ("points", "succeeded") not in scheduled_runs(url):
            assert process.poll() is None, process.communicate()[0][-2000:]
            assert time.monotonic() < deadline, "no scheduled run of `points`"
            time.sleep(0.3)
        if command[0] == "serve":
            assert healthz(port, deadline) == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=90)[0]
    assert process.returncode == 0, output[-2000:]
    assert (tmp_path / "tasks.db").exists()  # the queue: SQLite beside the database
    assert scheduled_runs(url).count(("points", "succeeded")) == 1
