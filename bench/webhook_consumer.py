"""A Huey consumer for Patron's queue, with the webhooks' relay loop and (optionally) their sweep
in threads: what `patron serve` / `patron worker` run, for the webhooks bench and the
worker-kill test. Settings from the PATRON_* environment (database, data dir, secret).

    python bench/webhook_consumer.py [--workers N] [--processes] [--relay] [--sweep-every S]
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

from patron import domains
from patron.core import clock, crypto, db, tasks
from patron.core.settings import get_settings


def every(seconds: float, work: object) -> None:
    def loop() -> None:
        while True:
            try:
                pause = work()  # type: ignore[operator]
            except Exception:
                logging.exception("background work failed")
                pause = seconds
            time.sleep(pause if isinstance(pause, float) else seconds)

    threading.Thread(target=loop, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--processes", action="store_true")
    parser.add_argument("--relay", action="store_true")
    parser.add_argument("--sweep-every", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    domains.load()
    settings = get_settings()
    crypto.configure(settings.secret_key)
    clock.set_business_timezone(settings.timezone)
    tasks.configure(settings)
    from patron.webhooks import jobs

    def sweep() -> None:
        with db.transaction() as session:
            jobs.sweep_job(session, clock.now())

    consumer = tasks.huey.create_consumer(
        workers=args.workers,
        worker_type="process" if args.processes else "thread",
        periodic=False,
        initial_delay=0.005,
        backoff=1.2,
        max_delay=0.05,
    )
    start_workers = consumer.start

    def start() -> None:
        start_workers()  # worker processes fork before this process has threads or connections
        if args.relay:
            every(0.5, jobs.relay_loop)
        if args.sweep_every:
            every(args.sweep_every, sweep)
        print("consuming", flush=True)

    consumer.start = start  # type: ignore[method-assign]
    consumer.run()


if __name__ == "__main__":
    main()
