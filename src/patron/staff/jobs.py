"""Scheduled work of the staff domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from patron.schedule import registry
from patron.staff.models import RevokedToken


def forget_expired_sign_outs(session: Session, now: datetime) -> int:
    """Drop sign-out records of tokens that have expired: an expired token is refused anyway."""
    result = session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    return result.rowcount or 0  # type: ignore[attr-defined]


def scheduled(session: Session, now: datetime) -> str:
    return f"{forget_expired_sign_outs(session, now)} sign-outs of expired tokens forgotten"


registry.register(
    registry.Job(
        "staff",
        registry.Cadence(minute=30, label="hourly at :30"),
        scheduled,
        "Forget the sign-outs of tokens that have expired.",
    )
)
