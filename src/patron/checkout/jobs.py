"""Scheduled work of checkout: open quotes a day past their expiry go (a cashier's screen writes
one per basket change, and an expired quote can no longer be committed); committed quotes stay
with their orders."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from patron.checkout.models import CheckoutQuote, QuoteStatus
from patron.schedule import registry

KEPT_AFTER_EXPIRY = timedelta(days=1)  # a late commit still answers quote_expired, not not_found


def prune_expired_quotes(session: Session, now: datetime) -> int:
    result = session.execute(
        delete(CheckoutQuote).where(
            CheckoutQuote.status == QuoteStatus.open.value,
            CheckoutQuote.expires_at < now - KEPT_AFTER_EXPIRY,
        )
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def scheduled(session: Session, now: datetime) -> str:
    return f"{prune_expired_quotes(session, now)} expired open quotes deleted"


registry.register(
    registry.Job(
        "checkout",
        registry.daily(3, 15),
        scheduled,
        "Delete open checkout quotes more than a day past their expiry.",
    )
)
