"""The queue for real: a consumer (threads, as `patron serve` and `patron worker` run it) takes
tasks from SQLite storage and from Redis; the minute tick enqueues the due jobs only; loops run
their rounds, survive errors and stop."""

from __future__ import annotations

import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import db, tasks
from patron.core.settings import Settings
from patron.schedule import background, registry
from patron.schedule import tasks as schedule_tasks
from patron.schedule.models import JobRun
from tests import conftest
from tests.schedule.conftest import Counting

REDIS_URL = "redis://127.0.0.1:6379/0"
noted: queue.Queue[str] = queue.Queue()


@tasks.huey.task(name="tests.schedule.note")
def note(value: str) -> None:
    noted.put(value)


def _restore_immediate() -> None:
    tasks.huey.storage_class = None
    tasks.huey.storage_kwargs = {}
    tasks.huey.immediate = True  # back to the in-memory storage of immediate mode


@pytest.fixture
def sqlite_queue(tmp_path: Path) -> Iterator[None]:
    tasks.configure(Settings(env="test", secret_key=conftest.TEST_SECRET, data_dir=tmp_path))
    yield
    _restore_immediate()


@pytest.fixture
def redis_queue(tmp_path: Path) -> Iterator[None]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({exc.__class__.__name__})")
    name = tasks.huey.name
    tasks.huey.name = f"patron-test-{secrets.token_hex(4)}"  # a queue of the test's own
    settings = Settings(
        env="test", secret_key=conftest.TEST_SECRET, data_dir=tmp_path, redis_url=REDIS_URL
    )
    tasks.configure(settings)
    yield
    tasks.huey.storage.flush_all()
    tasks.huey.name = name
    _restore_immediate()


@pytest.fixture
def global_database(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """The test database as the process's own (what a task's `db.transaction()` uses): rows
    written there commit for real, and the test deletes them."""
    db.configure(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    db._engine = None


def drain(timeout: float = 15.0) -> str:
    return noted.get(timeout=timeout)


@pytest.mark.usefixtures("sqlite_queue")
def test_a_consumer_takes_tasks_from_sqlite_storage(tmp_path: Path) -> None:
    assert tasks.huey.storage.filename == str(tmp_path / "tasks.db")
    note("before the consumer starts")
    hosted = background.Background(workers=2, schedule=False).start()
    try:
        note("while it runs")
        assert {drain(), drain()} == {"before the consumer starts", "while it runs"}
    finally:
        hosted.stop()
    assert len(tasks.huey) == 0


@pytest.mark.usefixtures("redis_queue")
def test_a_consumer_takes_tasks_from_redis() -> None:
    assert tasks.uses_redis()
    hosted = background.Background(workers=1, schedule=False).start()
    try:
        note("through redis")
        assert drain() == "through redis"
    finally:
        hosted.stop()


@pytest.mark.usefixtures("sqlite_queue")
def test_a_consumer_runs_a_scheduled_job_once_per_tick(
    global_database: sessionmaker[Session], counting_job: Callable[..., Counting]
) -> None:
    job = counting_job()
    tick = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    for _ in range(2):  # the tick enqueued twice (two schedulers, a catch-up): it runs once
        schedule_tasks.run_scheduled_job(job.name, tick.isoformat())
    hosted = background.Background(workers=2, schedule=False).start()
    try:
        for _ in range(150):
            if len(tasks.huey) == 0 and job.runs:
                break
            threading.Event().wait(0.1)
    finally:
        hosted.stop()
    try:
        assert job.runs == [tick]
        with global_database() as session:
            runs = session.scalars(select(JobRun).where(JobRun.job == job.name)).all()
            assert [(r.status, r.tick) for r in runs] == [("succeeded", tick)]
    finally:
        with global_database.begin() as session:
            session.execute(delete(JobRun).where(JobRun.job == job.name))


@pytest.mark.usefixtures("sqlite_queue")
def test_the_minute_tick_enqueues_due_jobs_only(
    sessions: Callable[[], Session], counting_job: Callable[..., Counting]
) -> None:
    registered = dict(registry.JOBS)
    registry.JOBS.clear()
    try:
        hourly = counting_job(registry.HOURLY)
        daily = counting_job(registry.daily(10, 0))  # 02:00 UTC
        later = counting_job(registry.daily(11, 0))
        at = datetime(2027, 3, 1, 2, 0, 12, tzinfo=UTC)
        owed = schedule_tasks.enqueue_due(at, sessions)
    finally:
        registry.JOBS.clear()
        registry.JOBS.update(registered)
    tick = at.replace(second=0)
    assert owed == [(hourly.name, tick), (daily.name, tick)]
    pending = [(t.name, t.args) for t in tasks.huey.pending()]
    assert pending == [
        ("patron.schedule.run_scheduled_job", (hourly.name, tick.isoformat())),
        ("patron.schedule.run_scheduled_job", (daily.name, tick.isoformat())),
    ]
    assert later.runs == []
    assert hourly.runs == []  # enqueued, not run: the consumer runs it


def test_the_tick_is_a_periodic_task_every_minute() -> None:
    for minute in (0, 7, 59):
        moment = datetime(2027, 3, 1, 2, minute, tzinfo=UTC).replace(tzinfo=None)  # Huey's form
        assert "patron.schedule.tick" in {t.name for t in tasks.huey.read_periodic(moment)}


def test_loops_run_back_off_and_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "LOOP_BACKOFF_SECONDS", 0.01)
    rounds: list[int] = []
    enough = threading.Event()

    def one_round() -> float:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("the relay tripped")
        if len(rounds) >= 4:
            enough.set()
        return 0.01

    stopping = threading.Event()
    loop = background.Loop("test", one_round, stopping)
    loop.thread.start()
    assert enough.wait(10)
    stopping.set()
    loop.thread.join(5)
    assert not loop.thread.is_alive()
    assert loop.failures == 0  # the round after the failure succeeded


@pytest.mark.usefixtures("sqlite_queue")
def test_background_with_the_schedule_runs_the_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = threading.Event()

    def one_round() -> float:
        ran.set()
        return 60.0

    monkeypatch.setitem(registry.LOOPS, "test-loop", one_round)
    hosted = background.Background(workers=1, schedule=True).start()
    try:
        assert ran.wait(10)
    finally:
        hosted.stop()  # within the loop's 60 s pause
    assert [loop.name for loop in hosted.loops] == list(registry.LOOPS)
    assert all(not loop.thread.is_alive() for loop in hosted.loops)
