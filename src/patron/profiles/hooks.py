"""Profiles in other domains' work: a merge drops the merged-away member's profile and
recomputes the survivor's raw facts with the orders moved to them (scores, preferences and
CLV follow at the next refresh); erasure deletes the profile; the PIPL export lists it.

The merge hook runs after the orders' hook (this module loads after `patron.orders.service`
in `patron.domains`), so the survivor's facts count the moved orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.core import clock
from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member
from patron.profiles import service
from patron.profiles.models import MemberProfile


@member_merge.on_merge.register("profiles")
def _merge_profiles(session: Session, source: Member, target: Member) -> None:
    service.forget(session, source.id)
    service.mark_stale(session, target.id, clock.now())


@privacy.on_erase.register("profiles")
def _erase_profile(session: Session, member: Member) -> None:
    service.forget(session, member.id)


@privacy.export_sections.register("profiles")
def _export_profile(session: Session, member: Member) -> dict[str, Any] | None:
    profile = session.get(MemberProfile, member.id)
    if profile is None:
        return None
    values = {
        column.key: getattr(profile, column.key) for column in MemberProfile.__table__.columns
    }
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
