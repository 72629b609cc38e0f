"""The points policy (one row) and the expiry dates it sets."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Protocol

from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.points.models import (
    ExpiryPolicy,
    PointsPolicy,
)


class ExpiryTerms(Protocol):
    @property
    def expiry_policy(self) -> str: ...
    @property
    def rolling_months(self) -> int: ...


@dataclass(frozen=True)
class EarningTerms:
    """What earning reads of the policy, cached between requests."""

    expiry_policy: str
    rolling_months: int
    pending_days: int


_terms: TtlCache[EarningTerms] = TtlCache()
drop_on_change(_terms, PointsPolicy, "after_update")
POLICY_KEY = identity_key(PointsPolicy, 1)


def earning_terms(session: Session) -> EarningTerms:
    """The policy as earning needs it: the session's own copy when it holds one (it may have
    just changed it), else the process's cached copy (no statement)."""
    held = session.identity_map.get(POLICY_KEY)
    if held is not None:
        return _terms_of(held)
    terms = _terms.get(1, lambda: _terms_of(get_policy(session)))
    assert terms is not None
    return terms


def _terms_of(policy: PointsPolicy) -> EarningTerms:
    return EarningTerms(policy.expiry_policy, policy.rolling_months, policy.pending_days)


def get_policy(session: Session) -> PointsPolicy:
    policy = session.get(PointsPolicy, 1)
    if policy is None:
        policy = PointsPolicy(id=1)
        session.add(policy)
        session.flush()
    return policy


def add_months(day: date, months: int) -> date:
    """Calendar months later; the 29th of February a year on is the 28th."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: date) -> datetime:
    """23:59:59 of `day` in the business time zone."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=clock.business_tz())


def expiry_for(policy: ExpiryTerms, earned_at: datetime) -> datetime | None:
    local_day = earned_at.astimezone(clock.business_tz()).date()
    if policy.expiry_policy == ExpiryPolicy.never:
        return None
    if policy.expiry_policy == ExpiryPolicy.year_end:
        return end_of_day(date(local_day.year + 1, 12, 31))
    return end_of_day(add_months(local_day, policy.rolling_months))


def update_policy(session: Session, actor: Actor, changes: dict[str, Any]) -> PointsPolicy:
    policy = get_policy(session)
    before = {k: getattr(policy, k) for k in changes}
    for field, value in changes.items():
        setattr(policy, field, value)
    session.flush()
    audit.record(
        session, actor, "points.policy", "points_policy", policy.id, before=before, after=changes
    )
    return policy
