"""Points expiry notices for the message service: the recent ones still ahead of their expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.points.models import ExpiryNotice


@dataclass(frozen=True)
class PointsNotice:
    id: int
    member_id: int
    points: int
    expires_at: datetime


def recent_notices(
    session: Session, now: datetime, within: timedelta, limit: int = 5000
) -> list[PointsNotice]:
    """Notices recorded in the last `within` whose points have not expired yet, oldest first."""
    rows = session.execute(
        select(
            ExpiryNotice.id, ExpiryNotice.member_id, ExpiryNotice.points, ExpiryNotice.expires_at
        )
        .where(
            ExpiryNotice.noticed_at > now - within,
            ExpiryNotice.expires_at > now,
            ExpiryNotice.points > 0,
        )
        .order_by(ExpiryNotice.id)
        .limit(limit)
    )
    return [PointsNotice(*row) for row in rows]
