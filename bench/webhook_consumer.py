"""`patron worker` with the webhooks' loops alone, for the worker-kill test: the same Background
(task consumer threads) and Loop as the worker, without the minute schedule, so that the relay
runs from the start and the sweep every few seconds rather than once a minute. Settings from the
PATRON_* environment (database, data dir, secret).

    python bench/webhook_consumer.py [--workers N] [--relay] [--sweep-every S]
"""

from __future__ import annotations

import argparse
import signal
import threading

from patron import domains
from patron.core import clock, crypto, db, tasks
from patron.core.settings import get_settings
from patron.schedule.background import Background, Loop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--relay", action="store_true")
    parser.add_argument("--sweep-every", type=float, default=0.0)
    args = parser.parse_args()
    domains.load()
    settings = get_settings()
    crypto.configure(settings.secret_key)
    clock.set_business_timezone(settings.timezone)
    tasks.configure(settings)
    from patron.webhooks import jobs

    def sweep() -> float:
        with db.transaction() as session:
            jobs.sweep_job(session, clock.now())
        return float(args.sweep_every)

    hosted = Background(workers=args.workers, schedule=False).start()
    if args.relay:
        hosted.loops.append(Loop("webhooks.relay", jobs.relay_loop, hosted.stopping))
    if args.sweep_every:
        hosted.loops.append(Loop("webhooks.sweep", sweep, hosted.stopping))
    for loop in hosted.loops:
        loop.thread.start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print("consuming", flush=True)
    stopping.wait()
    hosted.stop()


if __name__ == "__main__":
    main()
