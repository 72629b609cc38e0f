"""Demo points: the demo history earns through the same earning code as live orders, then some
members spend, and the job expires what is past due. The demo policy keeps points 12 months and
holds new points 7 days, so the demo shows spent, expired and pending points side by side."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import islice

from rich.progress import Progress
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.orders import service as orders
from patron.points import burning, earning, jobs
from patron.points import policy as points_policy
from patron.points import queries as points_queries

BATCH = 5000
SPENDERS = 0.25


@dataclass(frozen=True)
class LoyaltyReport:
    earned: int
    burns: int
    expired: int


def load(session: Session, seed: int = 2026) -> LoyaltyReport:
    points_policy.update_policy(session, SYSTEM, {"rolling_months": 12, "pending_days": 7})
    order_ids = orders.member_order_ids(session)
    earned = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("demo points", total=len(order_ids))
        iterator = iter(order_ids)
        while chunk := list(islice(iterator, BATCH)):
            facts = [
                earning.order_facts(order, order.member_id)
                for order in orders.completed_payloads(session, chunk)
                if order.member_id is not None
            ]
            earned += earning.earn(session, facts, operator="order")
            session.expunge_all()  # written and flushed: keep the session small across batches
            progress.advance(task, len(chunk))
    now = clock.now()
    report = jobs.run(session, now)
    burns = _spend(session, random.Random(seed))
    return LoyaltyReport(earned, burns, report.expired_points)


def _spend(session: Session, rng: random.Random) -> int:
    """A quarter of the members with points to spare redeem some at the till."""
    burns = 0
    for member_id, available in points_queries.spendable_balances(session, minimum=500):
        if rng.random() < SPENDERS:
            amount = max(100, min(available, int(rng.triangular(100, available, 300))) // 100 * 100)
            burning.burn(session, SYSTEM, member_id, amount, "积分抵现")
            burns += 1
    return burns
