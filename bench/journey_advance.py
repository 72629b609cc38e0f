"""A journey's runner walking many due entries through points and a message (issue 18): each
entry granted points, sent a marketing SMS (consent, weekly cap and quiet hours as the message
service decides them) and walked to the exit, in the runner's batches of one transaction each.

Members as in `campaign_launch` (90% consent to SMS, one in 500 wants no marketing); their
entries are written directly at the journey's first step, one in ten in the control group.

.venv/bin/python bench/journey_advance.py [--entries 20000]  (PostgreSQL)
"""

from __future__ import annotations

import argparse
import time

from _common import databases, fresh_database
from campaign_launch import NOW, load
from huey.storage import MemoryStorage
from sqlalchemy import func, select, text

from patron.core import clock, db, tasks
from patron.core.actor import SYSTEM
from patron.journeys import runner, service
from patron.journeys.models import JourneyEntry
from patron.journeys.schemas import JourneyIn
from patron.messages import channels
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import MessageTemplate

STEPS = [
    {"key": "p", "type": "action", "action": "grant_points", "points": 100, "reason": "旅程"},
    {"key": "m", "type": "action", "action": "send_message", "channel": "sms", "template": "hi"},
    {"key": "x", "type": "exit"},
]


def prepare(count: int) -> None:
    with db.transaction() as session:
        channels.put(session, SYSTEM, Channel.sms, "log", True, {})
        session.add(
            MessageTemplate(
                code="hi", channel="sms", purpose=Purpose.marketing.value, body="{{ name }}，欢迎"
            )
        )
        session.flush()
        body = {"name": "bench", "trigger": {"event": "first_purchase"}, "steps": STEPS}
        journey = service.create(session, SYSTEM, JourneyIn.model_validate(body))
        service.move(session, SYSTEM, journey.id, "activate")
        version = service.current_version(session, journey)
        session.execute(
            text(
                "INSERT INTO journey_entries (journey_id, version_id, member_id, trigger_ref, "
                "in_control, status, step_key, wake_at, entered_at) "
                "SELECT :journey, :version, i, 'bench', i % 10 = 0, 'active', 'p', :now, :now "
                "FROM generate_series(1, :count) AS s(i)"
            ),
            {"journey": journey.id, "version": version.id, "now": NOW, "count": count},
        )


def measure(kind: str, count: int) -> None:
    with fresh_database(kind) as engine:
        load(engine, count)
        prepare(count)
        tasks.huey.immediate = False
        tasks.huey.storage = MemoryStorage("bench")
        batches = 0
        with clock.frozen(NOW):
            started = time.perf_counter()
            while True:
                with db.transaction() as session:
                    if not runner.advance(session, NOW).entries:
                        break
                batches += 1
            wall = time.perf_counter() - started
        with db.transaction(read_only=True) as session:
            left = session.scalar(select(func.count()).where(JourneyEntry.status == "active"))
        print(
            f"{kind:10s} {count:,} entries in {batches} batches of {runner.BATCH}: "
            f"{wall:.1f} s, {count / wall:,.0f} entries/s ({left} left active)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20_000)
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        print(f"journey advance: {args.entries:,} entries; load average {f.read().strip()}")
    for kind in databases("postgresql"):
        measure(kind, args.entries)


if __name__ == "__main__":
    main()
