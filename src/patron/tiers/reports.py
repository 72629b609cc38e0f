"""The tier distribution report: how many active members hold each tier in each store (their
home store; None: no store), and the tier history's movements per month in business time, by
reason and from/to tier, for a range of business days. Two grouped queries whatever the number
of members (the ladder is cached).

A store manager's report counts the members whose home store is one of theirs (members of no
store are HQ's); HQ's counts every member. One store's report (the console's store view) counts
that store's members, within the actor's stores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.members.models import Member, MemberStatus
from patron.reports import permissions
from patron.tiers.ladder import Rung, base, by_id, ladder
from patron.tiers.models import MemberTier, TierChange

MAX_MONTHS = 60


class Table(StrEnum):
    holdings = "holdings"  # members per tier per store
    movements = "movements"  # tier changes per month


@dataclass(frozen=True)
class Holding:
    store_id: int | None
    tier: str  # code
    members: int


@dataclass(frozen=True)
class Movement:
    month: str  # "2026-03", business time
    reason: str
    from_tier: str | None
    to_tier: str
    changes: int


@dataclass(frozen=True)
class Distribution:
    holdings: list[Holding]  # by store (None last), then rank
    movements: list[Movement]  # by month, reason, from, to


HOLDING_COLUMNS = ("store_id", "tier", "members")
MOVEMENT_COLUMNS = ("month", "reason", "from_tier", "to_tier", "changes")


def distribution(
    session: Session, actor: Actor, first: date, last: date, store_id: int | None = None
) -> Distribution:
    """Members per tier per store now, and the movements of the business days first..last;
    with `store_id`, of that store's members only."""
    permissions.VIEW.check(actor)
    store_ids = actor.store_ids
    if store_id is not None:
        store_ids = frozenset({store_id} if store_ids is None else {store_id} & store_ids)
    return distribution_of(session, store_ids, first, last)


def distribution_of(
    session: Session, store_ids: Collection[int] | None, first: date, last: date
) -> Distribution:
    """The distribution over the members whose home store is one of `store_ids` (None: every
    member); the caller has checked who may read it (the reports' registry)."""
    months = _months(first, last)
    rungs = ladder(session)
    if base(rungs) is None:
        return Distribution([], [])
    scope: list[ColumnElement[bool]] = []
    if store_ids is not None:
        scope.append(Member.store_id.in_(sorted(store_ids)))
    return Distribution(_holdings(session, scope, rungs), _movements(session, scope, rungs, months))


def _holdings(
    session: Session, scope: list[ColumnElement[bool]], rungs: Sequence[Rung]
) -> list[Holding]:
    """One grouped scan: members by home store, held tier and live paid tier; the tier that
    counts (the higher) is picked here from the cached ladder."""
    now = clock.now()
    paid = case((MemberTier.paid_until > now, MemberTier.paid_tier_id), else_=None)
    rows = session.execute(
        select(Member.store_id, MemberTier.tier_id, paid, func.count())
        .select_from(Member)
        .outerjoin(MemberTier, MemberTier.member_id == Member.id)
        .where(Member.status == MemberStatus.active.value, *scope)
        .group_by(Member.store_id, MemberTier.tier_id, paid)
    )
    home = base(rungs)
    assert home is not None
    counted: dict[tuple[int | None, int], int] = defaultdict(int)  # (store, rank): members
    for store_id, tier_id, paid_id, members in rows:
        held = by_id(rungs, tier_id) or home
        live = by_id(rungs, paid_id)
        tier = live if live is not None and live.rank > held.rank else held
        counted[(store_id, tier.rank)] += int(members)
    codes = {rung.rank: rung.code for rung in rungs}
    return [
        Holding(store_id, codes[rank], counted[(store_id, rank)])
        for store_id, rank in sorted(counted, key=lambda k: (k[0] is None, k[0] or 0, k[1]))
    ]


def _months(first: date, last: date) -> list[tuple[str, datetime]]:
    """Each month the range touches, with where it starts in business time (the range's own
    start for the first), and the range's end: [(label, start)…, ("", end)]."""
    if first > last:
        raise InvalidInput("to", "is before from", code=Reason.dates_reversed)
    tz = clock.business_tz()
    months = [(f"{first:%Y-%m}", datetime.combine(first, time(), tz))]
    start = first.replace(day=1)
    while True:
        start = (start + timedelta(days=32)).replace(day=1)
        if start > last:
            break
        months.append((f"{start:%Y-%m}", datetime.combine(start, time(), tz)))
        if len(months) > MAX_MONTHS:
            raise InvalidInput(
                "to", f"the range spans more than {MAX_MONTHS} months", code=Reason.out_of_range
            )
    return [*months, ("", datetime.combine(last + timedelta(days=1), time(), tz))]


def _movements(
    session: Session,
    scope: list[ColumnElement[bool]],
    rungs: Sequence[Rung],
    months: list[tuple[str, datetime]],
) -> list[Movement]:
    """One grouped scan of the history in the range (its created_at index), each change put in
    its business month by a CASE over the months' starts."""
    starts = months[:-1]
    month = case(
        *((TierChange.created_at < months[i + 1][1], i) for i in range(len(starts))),
        else_=len(starts) - 1,
    )
    keys = (month, TierChange.reason, TierChange.from_tier_id, TierChange.to_tier_id)
    query = (
        select(*keys, func.count())
        .where(TierChange.created_at >= months[0][1], TierChange.created_at < months[-1][1])
        .group_by(*keys)
    )
    if scope:
        query = query.join(Member, Member.id == TierChange.member_id).where(*scope)
    found = [
        Movement(starts[index][0], reason, _code(rungs, from_id), _code(rungs, to_id) or "", int(n))
        for index, reason, from_id, to_id, n in session.execute(query)
    ]
    return sorted(found, key=lambda m: (m.month, m.reason, m.from_tier or "", m.to_tier))


def _code(rungs: Sequence[Rung], tier_id: int | None) -> str | None:
    rung = by_id(rungs, tier_id)
    return rung.code if rung is not None else None


def members_per_tier(report: Distribution) -> dict[str, int]:
    """Members per tier code over the stores."""
    totals: dict[str, int] = defaultdict(int)
    for h in report.holdings:
        totals[h.tier] += h.members
    return dict(totals)


def changes_per_month(report: Distribution) -> dict[str, dict[str, int]]:
    """Changes per month label and reason."""
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for m in report.movements:
        tally[m.month][m.reason] += m.changes
    return {month: dict(reasons) for month, reasons in tally.items()}


def month_labels(first: date, last: date) -> list[str]:
    """The months the business days first..last touch: ["2026-03", …]."""
    return [label for label, _ in _months(first, last)[:-1]]


def holding_rows(report: Distribution) -> Iterator[Sequence[Any]]:
    for h in report.holdings:
        yield (h.store_id, h.tier, h.members)


def movement_rows(report: Distribution) -> Iterator[Sequence[Any]]:
    for m in report.movements:
        yield (m.month, m.reason, m.from_tier, m.to_tier, m.changes)
