"""Jobs of the tests' own, registered for a test and gone after it."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from patron.schedule import registry


@dataclass
class Counting:
    """A job that counts its runs (and the `now`s it ran as of), optionally slowly or failing."""

    name: str
    seconds: float = 0.0
    fail: bool = False
    runs: list[datetime] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, session: Session, now: datetime) -> str:
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("the till printer is on fire")
        with self.lock:
            self.runs.append(now)
        return f"ran {len(self.runs)} times"


@pytest.fixture
def counting_job() -> Iterator[Callable[..., Counting]]:
    made: list[str] = []

    def make(cadence: registry.Cadence = registry.HOURLY, **options: object) -> Counting:
        job = Counting(f"test-{secrets.token_hex(4)}", **options)  # type: ignore[arg-type]
        registry.register(registry.Job(job.name, cadence, job, "a test's job"))
        made.append(job.name)
        return job

    yield make
    for name in made:
        registry.JOBS.pop(name, None)
