"""Background work in a process: a Huey consumer (worker threads) and, in the one process that
runs the schedule, Huey's periodic scheduler and the registered loops (`registry.LOOPS`), each
in a thread of its own.

`patron serve` starts this in-process when no Redis is configured (the embedded default), in
the process that supervises uvicorn's workers, so it runs once however many workers serve HTTP;
`patron worker` starts it on its own. The host process owns the signals: the consumer is started
with `start()`, never `run()`, and stopped by the host."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from huey import Huey
from huey.consumer import Consumer

from patron.core.tasks import huey as default_huey
from patron.schedule import registry

log = logging.getLogger("patron.schedule")
# A loop that raised waits this long, doubled for each failure in a row, up to the maximum.
LOOP_BACKOFF_SECONDS = 1.0
LOOP_BACKOFF_MAX_SECONDS = 60.0
SHUTDOWN_SECONDS = 30.0
# An idle worker polls the queue (SQLite storage) at most this far apart; Huey's default, 10 s,
# would hold a message or webhook queued after a quiet spell that long.
POLL_MAX_SECONDS = 1.0


class HostedConsumer(Consumer):
    """A consumer that leaves the process's signal handlers alone (uvicorn's, `patron
    worker`'s): it may be started from any thread and is stopped with `stop()`."""

    def _set_signal_handlers(self) -> None:
        pass


class Loop:
    """One registered loop in a thread: a round, then the pause the round returned; a round
    that raises is logged and the loop backs off. `stop` ends it within its current pause."""

    def __init__(self, name: str, one_round: Callable[[], float], stopping: threading.Event):
        self.name = name
        self.one_round = one_round
        self.stopping = stopping
        self.failures = 0
        self.thread = threading.Thread(target=self.run, name=f"patron-loop-{name}", daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                pause = float(self.one_round())
                self.failures = 0
            except Exception:
                self.failures += 1
                pause = min(LOOP_BACKOFF_MAX_SECONDS, LOOP_BACKOFF_SECONDS * 2**self.failures)
                log.exception(
                    "loop %s failed (%d in a row); next round in %ss",
                    self.name,
                    self.failures,
                    pause,
                )
            self.stopping.wait(max(pause, 0.0))


class Background:
    """The consumer (`workers` threads) and, with `schedule`, the periodic tasks and the loops."""

    def __init__(self, workers: int = 2, schedule: bool = True, huey: Huey | None = None):
        self.huey = huey or default_huey
        self.workers = workers
        self.schedule = schedule
        self.stopping = threading.Event()
        self.consumer: HostedConsumer | None = None
        self.loops: list[Loop] = []

    def start(self) -> Background:
        self.consumer = HostedConsumer(
            self.huey,
            workers=self.workers,
            periodic=self.schedule,
            worker_type="thread",
            shutdown_timeout=SHUTDOWN_SECONDS,
            check_worker_health=False,
            max_delay=POLL_MAX_SECONDS,
        )
        self.consumer.start()
        if self.schedule:
            self.loops = [Loop(n, r, self.stopping) for n, r in registry.LOOPS.items()]
            for loop in self.loops:
                loop.thread.start()
        log.info(
            "background work: %d task workers, schedule %s, loops %s",
            self.workers,
            "on" if self.schedule else "off",
            ", ".join(loop.name for loop in self.loops) or "none",
        )
        return self

    def stop(self) -> None:
        """Stop the loops and the consumer, letting running tasks finish (up to a timeout)."""
        self.stopping.set()
        if self.consumer is not None:
            self.consumer.stop(graceful=True)
        for loop in self.loops:
            loop.thread.join(SHUTDOWN_SECONDS)
