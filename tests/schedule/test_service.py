"""Runs with records: a scheduled tick runs once however many workers are handed it, a failure
is recorded, manual runs always run; the schedule owes the due ticks without a record."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import clock
from patron.schedule import registry, runner, service
from patron.schedule.errors import JobFailed, JobNotFound
from patron.schedule.models import JobRun
from tests.schedule.conftest import Counting

TICK = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def runs_of(session: Session, name: str) -> list[JobRun]:
    return list(session.scalars(select(JobRun).where(JobRun.job == name).order_by(JobRun.id)))


def test_a_tick_runs_once(
    sessions: Callable[[], Session], session: Session, counting_job: Callable[..., Counting]
) -> None:
    job = counting_job()
    first = runner.run_job(job.name, TICK, service.Trigger.schedule, TICK, sessions=sessions)
    again = runner.run_job(job.name, TICK, service.Trigger.schedule, TICK, sessions=sessions)
    assert first is not None
    assert again is None
    assert job.runs == [TICK]
    [run] = runs_of(session, job.name)
    assert (run.status, run.trigger, run.tick, run.ran_for) == ("succeeded", "schedule", TICK, TICK)
    assert run.summary == "ran 1 times"
    assert run.finished_at is not None


def test_manual_runs_always_run(
    sessions: Callable[[], Session], session: Session, counting_job: Callable[..., Counting]
) -> None:
    job = counting_job()
    runner.run_job(job.name, TICK, sessions=sessions)
    runner.run_job(job.name, TICK, sessions=sessions)
    assert len(job.runs) == 2
    assert [(r.trigger, r.tick) for r in runs_of(session, job.name)] == [("manual", None)] * 2


def test_a_failure_is_recorded_and_raised(
    sessions: Callable[[], Session], session: Session, counting_job: Callable[..., Counting]
) -> None:
    job = counting_job(fail=True)
    with pytest.raises(JobFailed) as raised:
        runner.run_job(job.name, TICK, service.Trigger.schedule, TICK, sessions=sessions)
    assert isinstance(raised.value.__cause__, RuntimeError)
    [run] = runs_of(session, job.name)
    assert run.status == "failed"
    assert run.error == "RuntimeError: the till printer is on fire"
    # The tick stays claimed: a second worker does not run it again.
    assert runner.run_job(job.name, TICK, service.Trigger.schedule, TICK, sessions=sessions) is None


def test_an_unknown_job_is_refused(sessions: Callable[[], Session]) -> None:
    with pytest.raises(JobNotFound):
        runner.run_job("no-such-job", TICK, sessions=sessions)


def test_the_schedule_owes_due_ticks_without_a_record(
    sessions: Callable[[], Session], session: Session, counting_job: Callable[..., Counting]
) -> None:
    hourly = counting_job(registry.HOURLY)
    daily = counting_job(registry.daily(10, 2))  # 10:02 in Shanghai = 02:02 UTC
    every = counting_job(registry.EVERY_MINUTE)
    mine = {hourly.name, daily.name, every.name}

    def owed(at: datetime) -> list[tuple[str, datetime]]:
        return [(name, tick) for name, tick in service.due_runs(session, at) if name in mine]

    at = datetime(2027, 3, 1, 2, 0, 40, tzinfo=UTC)
    # The every-minute job missed 01:56 to 01:59 too: it runs once, for the newest tick.
    assert owed(at) == [(hourly.name, TICK), (every.name, TICK)]
    later = datetime(2027, 3, 1, 2, 2, 5, tzinfo=UTC)
    for name, tick in owed(later):
        runner.run_job(name, tick, service.Trigger.schedule, tick, sessions=sessions)
    session.expire_all()
    assert owed(later) == []
    assert daily.runs == [later.replace(second=0)]
    assert hourly.runs == [TICK]  # still owed two minutes late: caught up
    # An hour on, only the hourly and the every-minute jobs are due; the daily one is not.
    assert {name for name, _ in owed(datetime(2027, 3, 1, 3, 0, tzinfo=UTC))} == {
        hourly.name,
        every.name,
    }


def test_two_workers_handed_the_same_tick_run_it_once(
    engine: Engine, counting_job: Callable[..., Counting]
) -> None:
    """Real transactions on their own connections, as two worker threads run them."""
    job = counting_job(seconds=0.3)
    factory = sessionmaker(engine, expire_on_commit=False)
    results: list[JobRun | None] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        results.append(
            runner.run_job(job.name, TICK, service.Trigger.schedule, TICK, sessions=factory)
        )

    threads = [threading.Thread(target=worker) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(job.runs) == 1
        assert sorted(r is None for r in results) == [False, True]
        with factory() as session:
            assert [r.status for r in runs_of(session, job.name)] == ["succeeded"]
    finally:
        with factory.begin() as session:
            session.execute(delete(JobRun).where(JobRun.job == job.name))


def test_minute_tick_is_utc_and_truncated() -> None:
    with clock.frozen(datetime(2027, 3, 1, 10, 7, 59, 999, tzinfo=clock.business_tz())):
        assert service.minute_tick(clock.now()) == datetime(2027, 3, 1, 2, 7, tzinfo=UTC)
