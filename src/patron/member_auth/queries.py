"""Member sign-ins as other domains read them (referrals: the devices a member signed in from)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.member_auth.models import SignIn


def device_hashes_of(session: Session, member_id: int) -> set[str]:
    """The hashed device ids the member signed in from (empty hashes left out)."""
    return set(
        session.scalars(
            select(SignIn.device_hash)
            .where(SignIn.member_id == member_id, SignIn.device_hash != "")
            .distinct()
        )
    )
