"""Scheduled work of orders: folding the changes to the members' spend sums (`orders.spend`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.orders import spend
from patron.schedule import registry


def fold_spend(session: Session, now: datetime) -> str:
    folded = spend.fold(session, now)
    done = "built" if folded.built else "folded"
    return f"spend sums {done} for {folded.members} members, year until {folded.until.isoformat()}"


registry.register(
    registry.Job(
        "orders.spend",
        registry.every_minutes(5),
        fold_spend,
        "Fold the orders' changes into the members' spend sums and move their year to now "
        "(the first run builds them).",
    )
)
