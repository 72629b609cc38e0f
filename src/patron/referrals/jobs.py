"""The referral job: every minute, reward the referrals whose invitee has paid, and reverse the
ones whose first order was refunded in full within the window (see `rewards`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.referrals import rewards
from patron.schedule import registry


def scheduled(session: Session, now: datetime) -> str:
    report = rewards.run(session, now)
    return (
        f"{report.rewarded} referrals rewarded, {report.rejected} rejected, "
        f"{report.reversed} reversed"
    )


registry.register(
    registry.Job(
        "referrals.reward",
        registry.EVERY_MINUTE,
        scheduled,
        "Reward both sides of referrals whose invitee has paid (monthly cap, self-referral "
        "checks); reverse rewards whose first order was refunded in full within the window.",
    )
)
