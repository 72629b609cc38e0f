"""Scheduled work of the staff domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from patron.staff.models import RevokedToken


def forget_expired_sign_outs(session: Session, now: datetime) -> int:
    """Drop sign-out records of tokens that have expired: an expired token is refused anyway."""
    result = session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    return result.rowcount or 0  # type: ignore[attr-defined]
