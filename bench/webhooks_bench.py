"""Webhooks end to end: N events in the outbox, relayed and delivered by `patron worker --workers
2 --schedule` (what production runs: the task consumer's threads, the relay loop and the minute
jobs) to a local receiver in a subprocess; prints events/s from the worker's start (booted) to
the last delivery recorded `succeeded`. Target: at least 1,000 events/s. The clock starts when
the worker is up (its relay starts then).

    .venv/bin/python bench/webhooks_bench.py [--events 20000] [--workers 2] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SECRET, database_url, fresh_database, postgres_reachable
from sqlalchemy import func, insert, select

from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.core.events import OUTBOX
from patron.webhooks import service
from patron.webhooks.models import WebhookDelivery
from patron.webhooks.schemas import WebhookCreate

ROOT = Path(__file__).resolve().parents[1]


PATRON = str(Path(sys.executable).with_name("patron"))


def start(args: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(ready):
        raise SystemExit(f"{args[0]} did not start: {line!r}")
    return process, line.removeprefix(ready).strip()


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def run(kind: str, events: int, workers: int) -> None:
    with fresh_database(kind) as engine, tempfile.TemporaryDirectory() as data_dir:
        receiver, port = start(
            [sys.executable, "bench/webhook_receiver.py"], dict(os.environ), "listening"
        )
        consumer = None
        try:
            with db.transaction() as session:
                data = WebhookCreate(url=f"http://127.0.0.1:{port}/hook", event_types=["*"])
                service.create(session, SYSTEM, data, allow_private=True)
                now = clock.now()
                session.execute(
                    insert(OUTBOX),
                    [
                        {
                            "type": "order.completed",
                            "entity_id": str(i),
                            "payload": {"order_id": i, "store_id": 1, "total": 12_800},
                            "occurred_at": now,
                            "attempts": 0,
                        }
                        for i in range(events)
                    ],
                )
            env = dict(
                os.environ,
                PATRON_ENV="test",
                PATRON_DATABASE_URL=database_url(engine),
                PATRON_DATA_DIR=data_dir,
                PATRON_SECRET_KEY=SECRET,
                PATRON_LOG_LEVEL="WARNING",
            )
            consumer, _ = start(
                [PATRON, "worker", "--workers", str(workers), "--schedule"], env, "worker:"
            )
            started = time.perf_counter()  # the worker booted: its relay starts now
            relayed_at = None
            done = 0
            count = select(func.count()).where(WebhookDelivery.status == "succeeded")
            undispatched = select(func.count()).where(OUTBOX.c.delivered_at.is_(None))
            while done < events:
                time.sleep(0.2)
                with db.transaction(read_only=True) as session:
                    done = session.scalar(count) or 0
                    if relayed_at is None and not session.scalar(undispatched):
                        relayed_at = time.perf_counter() - started
                if time.perf_counter() - started > 300:
                    raise SystemExit(f"{kind}: only {done} of {events} delivered in 300 s")
            elapsed = time.perf_counter() - started
            print(
                f"{kind}: {events} events, {workers} workers: relayed in {relayed_at or 0:.1f} s,"
                f" delivered in {elapsed:.1f} s: {events / elapsed:,.0f} events/s end to end"
            )
        finally:
            if consumer is not None:
                stop(consumer)
            stop(receiver)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not postgres_reachable():
            print("postgresql: skipped, no server")
            continue
        run(kind, args.events, args.workers)


if __name__ == "__main__":
    main()
