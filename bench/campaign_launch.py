"""A campaign launched to a million members on PostgreSQL (issue 18): the audience frozen with its
control group, then every treated member issued a coupon and sent a marketing SMS (consent,
weekly cap and quiet hours as the message service decides them), in batches of one transaction
each. Target: ≥ 20,000 members/s, streaming (the audience never held in memory).

Members are generated set-based (INSERT … SELECT from generate_series): names and mobiles are
drawn from a few thousand values encrypted once, so that the message path decrypts and renders
real ciphertext; 90% of them consent to SMS. The delivery tasks go to an in-memory queue (the
launch queues messages; sending them is the workers' and the providers' business).

.venv/bin/python bench/campaign_launch.py [--members 1000000] [--batch 5000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import time
from datetime import UTC, datetime, timedelta

from _common import databases, fresh_database
from huey.storage import MemoryStorage
from import_members import Measured
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from patron.campaigns import launch, service
from patron.campaigns.models import Campaign
from patron.campaigns.schemas import CampaignIn
from patron.core import clock, crypto, db, tasks
from patron.core.actor import SYSTEM
from patron.coupons import templates
from patron.coupons.models import Coupon
from patron.messages import channels
from patron.messages import jobs as messages_jobs
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import Message, MessageTemplate

# 10:00 in Shanghai: outside the quiet hours, so the messages are queued, not deferred.
NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
TARGET = 20_000
DISTINCT = 5000  # names and mobiles, each encrypted once


def load(engine: Engine, count: int) -> None:
    cipher = crypto.cipher()
    values = [
        {
            "k": k,
            "name": cipher.encrypt(f"会员{k:04d}"),
            "mobile": cipher.encrypt(f"+86139{k:08d}"),
        }
        for k in range(DISTINCT)
    ]
    registered = (NOW - timedelta(days=400)).replace(tzinfo=None).isoformat(sep=" ")
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE pii (k int PRIMARY KEY, name text, mobile text)"))
        conn.execute(text("INSERT INTO pii VALUES (:k, :name, :mobile)"), values)
        conn.execute(
            text(
                "INSERT INTO members (id, status, name, mobile, gender, channel, registered_at, "
                "is_staff, no_marketing, created_at, updated_at) "
                f"SELECT i, 'active', p.name, p.mobile, 'unknown', 'store', '{registered}', "
                f"false, i % 500 = 0, '{registered}', '{registered}' "
                f"FROM generate_series(1, {count}) AS s(i) JOIN pii p ON p.k = i % {DISTINCT}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO member_consents (member_id, channel, granted, source, recorded_at) "
                f"SELECT i, 'sms', true, 'bench', '{registered}' "
                f"FROM generate_series(1, {count}) AS s(i) WHERE i % 10 <> 0"
            )
        )
        conn.execute(text("SELECT setval('members_id_seq', (SELECT max(id) FROM members))"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def prepare() -> int:
    with db.transaction() as session:
        channels.put(session, SYSTEM, Channel.sms, "log", True, {})
        session.add(
            MessageTemplate(
                code="double11",
                channel=Channel.sms.value,
                purpose=Purpose.marketing.value,
                body="{{ name }}，双十一会员日满100减20",
            )
        )
        template = templates.create_template(
            session,
            SYSTEM,
            {
                "name": "双十一满100减20",
                "type": "cash_off",
                "status": "active",
                "threshold": 10000,
                "amount": 2000,
                "valid_days": 30,
                "per_member_limit": 1,
                "total_stock": 2 * 10**7,
            },
        )
        body = {
            "name": "双十一",
            "rule": "registered_days >= 0",
            "actions": [
                {"type": "issue_coupon", "template_id": template.id},
                {"type": "send_message", "channel": "sms", "template": "double11"},
            ],
        }
        return service.create(session, SYSTEM, CampaignIn.model_validate(body)).id


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, members: int, profile: bool, lanes: int) -> None:
    with fresh_database(kind) as engine:
        started = time.perf_counter()
        load(engine, members)
        print(f"{kind}: {members:,} members loaded in {time.perf_counter() - started:.0f} s")
        campaign_id = prepare()
        # The launch's delivery and treatment tasks go to a queue no worker reads.
        tasks.huey.immediate = False
        tasks.huey.storage = MemoryStorage("bench")
        rss_before = _peak_mb()
        with clock.frozen(NOW):
            with Measured(engine) as launched, db.transaction() as session:
                service.launch(session, SYSTEM, campaign_id)
            # What the queued task does first (`launch.run`), measured on its own.
            with Measured(engine) as frozen, db.transaction() as session:
                launch.freeze(session, campaign_id)
            profiler = cProfile.Profile() if profile else None
            with Measured(engine) as treated:
                if profiler:
                    profiler.enable()
                batches = launch.run(campaign_id, lanes=lanes)
                if profiler:
                    profiler.disable()
        with db.transaction(read_only=True) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            assert campaign.status == "done"
            coupons = session.scalar(select(func.count()).select_from(Coupon))
            queued = session.scalar(select(func.count()).where(Message.status == "queued"))
            outcomes = service.outcomes(session, campaign_id)
        # Their delivery tasks lost, the queued messages are all due to the minute job.
        with Measured(engine) as handed, db.transaction() as session:
            summary = messages_jobs.send_due(session, NOW + timedelta(minutes=10))
        audience = campaign.audience_size or 0
        wall = frozen.wall + treated.wall
        rate = audience / wall
        print(
            f"{kind:10s} audience {audience:,} (control {campaign.control_size:,}), "
            f"{batches} batches of {launch.BATCH} in {lanes} lane(s): {coupons:,} coupons, {queued:,} SMS queued\n"
            f"{'':10s} launch request {launched.wall * 1000:.0f} ms\n"
            f"{'':10s} freeze {frozen.wall:.1f} s, treatment {treated.wall:.1f} s: "
            f"{rate:,.0f} members/s (target {TARGET:,}: {'met' if rate >= TARGET else 'MISSED'})\n"
            f"{'':10s} treatment {treated.per_row(audience - (campaign.control_size or 0))} "
            f"a treated member; freeze {frozen.per_row(audience)} a member\n"
            f"{'':10s} minute job messages.send_due: {summary} handed out in {handed.wall:.1f} s\n"
            f"{'':10s} peak RSS {rss_before:,.0f} MB before the launch, {_peak_mb():,.0f} MB after"
        )
        for o in outcomes:
            print(f"{'':10s} action {o.action_index} {o.type} {o.outcome}: {o.members:,}")
        if profiler:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=launch.BATCH)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--lanes", type=int, default=launch.LANES)
    args = parser.parse_args()
    launch.BATCH = args.batch
    with open("/proc/loadavg") as f:
        print(f"campaign launch: {args.members:,} members; load average {f.read().strip()}")
    for kind in databases("postgresql"):
        measure(kind, args.members, args.profile, args.lanes)


if __name__ == "__main__":
    main()
