"""Members on the ladder: the tier each holds, upgrades as soon as qualifying growth reaches a
higher entry threshold, the tier history with its `member.tier_changed` events, and a tier set
by hand.

A member holds the tier of their `MemberTier` row, created on first need (a member without one
holds the base tier); a live paid membership may grant a higher one (`paid_tier_id` until
`paid_until`), and the member's tier is the higher of the two. Upgrades move the held tier only;
refunds never move it (downgrades are the review job's)."""

from __future__ import annotations

import calendar
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, and_, bindparam, case, func, select
from sqlalchemy.orm import Session, aliased

from patron.audit import service as audit
from patron.core import clock, events, statements
from patron.core.actor import SYSTEM, Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.ttlcache import TtlCache
from patron.coupons.errors import TemplateExpired, TemplateNotActive, TemplateNotFound
from patron.coupons.issuing import issue_coupons
from patron.coupons.models import IssueSource
from patron.members import merge as member_merge
from patron.points import grants
from patron.tiers import growth
from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged
from patron.tiers.ladder import Rung, above, base, by_code, by_id, earned, ladder
from patron.tiers.models import (
    ChangeReason,
    Evaluation,
    MemberTier,
    Tier,
    TierChange,
    TierProgram,
)
from patron.tiers.permissions import SET_TIER
from patron.tiers.program import Program, program

CHANGES = cast(Table, TierChange.__table__)
MEMBER_TIERS = cast(Table, MemberTier.__table__)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where a member stands: `tier` is the one that counts (the higher of `held` and a live
    paid tier)."""

    member_id: int
    tier: Rung
    held: Rung
    since: datetime | None  # None: no row yet, the base tier since registration
    review_at: datetime | None  # the next review (`next_review`)
    lifetime_growth: int
    paid: bool  # a live paid membership holds `tier`


def _tier(
    rungs: Sequence[Rung], tier_id: int | None, live_paid_tier_id: int | None
) -> tuple[Rung, Rung, bool]:
    """(the tier that counts, the held tier, whether a live paid membership holds it), from the
    member's held tier and the tier of a paid membership still running (None: no row, or
    none)."""
    home = base(rungs)
    assert home is not None
    held = by_id(rungs, tier_id) if tier_id is not None else None
    held = held or home
    paid = by_id(rungs, live_paid_tier_id) if live_paid_tier_id is not None else None
    tier = paid if paid is not None and paid.rank > held.rank else held
    return tier, held, tier is paid


def _live_paid(row: Any, now: datetime) -> int | None:
    return row.paid_tier_id if row.paid_until and row.paid_until > now else None


def _rows(session: Session, ids: Sequence[int]) -> dict[int, Any]:
    columns = (
        MemberTier.member_id,
        MemberTier.tier_id,
        MemberTier.since,
        MemberTier.review_at,
        MemberTier.growth,
        MemberTier.paid_tier_id,
        MemberTier.paid_until,
    )
    found = session.execute(select(*columns).where(MemberTier.member_id.in_(ids)))
    return {row.member_id: row for row in found}


def standings(session: Session, member_ids: Iterable[int]) -> dict[int, Standing]:
    """Where each member stands, in one query; {} when tiers are off."""
    rungs = ladder(session)
    ids = sorted(set(member_ids))
    if base(rungs) is None or not ids:
        return {}
    rows = _rows(session, ids)
    now, prog, through = clock.now(), program(session), reviewed_through(session)
    found = {}
    for i in ids:
        row = rows.get(i)
        if row is None:
            home = base(rungs)
            assert home is not None
            found[i] = Standing(i, home, home, None, None, 0, False)
            continue
        tier, held, paid = _tier(rungs, row.tier_id, _live_paid(row, now))
        review_at = next_review(prog, row.review_at, through)
        found[i] = Standing(i, tier, held, row.since, review_at, row.growth, paid)
    return found


def tiers_of(session: Session, member_ids: Iterable[int]) -> dict[int, Rung]:
    """Each member's tier (what counts: held or paid), in one query; {} when tiers are off."""
    rungs = ladder(session)
    ids = sorted(set(member_ids))
    if base(rungs) is None or not ids:
        return {}
    now = clock.now()
    if len(ids) == 1:  # the order path's case, at the driver's cost
        found = _held_by_one().rows(session, {"member_id": ids[0], "now": now})
        tier_id, live_paid_tier_id = found[0] if found else (None, None)
        return {ids[0]: _tier(rungs, tier_id, live_paid_tier_id)[0]}
    rows = _rows(session, ids)
    tiers = {}
    for i in ids:
        row = rows.get(i)
        tier_id, live_paid_tier_id = (row.tier_id, _live_paid(row, now)) if row else (None, None)
        tiers[i] = _tier(rungs, tier_id, live_paid_tier_id)[0]
    return tiers


@cache
def _held_by_one() -> statements.Prepared:
    """A member's held tier and the tier of a paid membership running at `now`."""

    def build(_session: Session) -> Any:
        live = MemberTier.paid_until > bindparam("now", type_=MEMBER_TIERS.c.paid_until.type)
        return select(MemberTier.tier_id, case((live, MemberTier.paid_tier_id))).where(
            MemberTier.member_id == bindparam("member_id", type_=Integer)
        )

    return statements.Prepared(build)


def tier_of_row(
    rungs: Sequence[Rung], tier_id: int | None, live_paid_tier_id: int | None
) -> Rung | None:
    """The tier that counts for a member whose row holds `tier_id` (None: no row) with a live
    paid tier `live_paid_tier_id`; None when tiers are off."""
    return _tier(rungs, tier_id, live_paid_tier_id)[0] if base(rungs) is not None else None


def current_tier(session: Session, member_id: int) -> Rung | None:
    """The member's tier; None when tiers are off."""
    return tiers_of(session, [member_id]).get(member_id)


# --- changing --------------------------------------------------------------------------------


def review_date(prog: Program, tier: Rung, since: datetime) -> datetime | None:
    """When a tier entered at `since` is reviewed: a year on (anniversary), or the first of the
    next month in business time (monthly); the base tier never is."""
    if tier.rank == 0:
        return None
    local = since.astimezone(clock.business_tz())
    if prog.evaluation == Evaluation.monthly:
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (first + timedelta(days=32)).replace(day=1)
        return following.astimezone(since.tzinfo)
    day = 28 if (local.month, local.day) == (2, 29) else local.day
    return local.replace(year=local.year + 1, day=day).astimezone(since.tzinfo)


def next_review(prog: Program, first: datetime | None, through: datetime | None) -> datetime | None:
    """A member's next review: the first review of their held tier (`MemberTier.review_at`), or,
    once the review job has covered it (`through`, its last cutoff), the first date a whole
    number of cadences later that it has not: an anniversary (the 29th of February gives the
    28th in other years) or the first of a month, in business time."""
    if first is None or through is None or first > through:
        return first
    zone = clock.business_tz()
    done = through.astimezone(zone)
    if prog.evaluation == Evaluation.monthly:
        month = done.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return (month + timedelta(days=32)).replace(day=1).astimezone(first.tzinfo)
    local = first.astimezone(zone)
    years = done.year - local.year
    later = years_on(local, years)
    if later <= done:
        later = years_on(local, years + 1)
    return later.astimezone(first.tzinfo)


def years_on(local: datetime, years: int) -> datetime:
    year = local.year + years
    leap_day = (local.month, local.day) == (2, 29) and not calendar.isleap(year)
    return local.replace(year=year, day=28 if leap_day else local.day)


_through: TtlCache[tuple[datetime | None]] = TtlCache()


def reviewed_through(session: Session) -> datetime | None:
    """The cutoff the last tier review covered (None: never run), cached like the program."""

    def load() -> tuple[datetime | None]:
        found = session.scalar(
            select(TierProgram.reviewed_through).order_by(TierProgram.id).limit(1)
        )
        return (found,)

    cached = _through.get(1, load)
    assert cached is not None
    return cached[0]


def reviewed(session: Session) -> None:
    """The review job moved its cutoff on (in this session's transaction)."""
    _through.changed_in(session)


def lock(session: Session, member_ids: Iterable[int]) -> dict[int, MemberTier]:
    """The members' tier rows, created holding the base tier when missing, locked after the
    members' rows (tiers must be on)."""
    home = base(ladder(session))
    assert home is not None, "tiers are off"
    blank = {"tier_id": home.id, "since": clock.now(), "review_at": None, "growth": 0}
    return member_merge.lock_accounts(session, MemberTier, member_ids, blank)


def hold_tier(row: MemberTier, tier: Rung, prog: Program, now: datetime) -> None:
    """The member holds `tier` from `now`: its review date starts again."""
    row.tier_id, row.since, row.review_at = tier.id, now, review_date(prog, tier, now)


@dataclass(frozen=True)
class Change:
    member_id: int
    from_tier: Rung | None
    to_tier: Rung
    reason: ChangeReason
    operator: str
    qualifying_growth: int | None = None
    note: str = ""


def record_changes(session: Session, changes: Sequence[Change]) -> None:
    """History rows for the changes (one insert) and a `member.tier_changed` event each."""
    now = clock.now()
    statements.insert_rows(
        session,
        CHANGES,
        [
            {
                "member_id": c.member_id,
                "from_tier_id": c.from_tier.id if c.from_tier else None,
                "to_tier_id": c.to_tier.id,
                "reason": c.reason.value,
                "qualifying_growth": c.qualifying_growth,
                "operator": c.operator,
                "note": c.note,
                "created_at": now,
            }
            for c in changes
        ],
    )
    for c in changes:
        payload = TierChanged(
            member_id=c.member_id,
            from_code=c.from_tier.code if c.from_tier else None,
            from_rank=c.from_tier.rank if c.from_tier else None,
            to_code=c.to_tier.code,
            to_rank=c.to_tier.rank,
            reason=c.reason.value,
        )
        events.publish(session, MEMBER_TIER_CHANGED, c.member_id, payload)


def record_change(session: Session, change: Change) -> None:
    record_changes(session, [change])


def evaluate_upgrade(
    session: Session,
    member_id: int,
    *,
    now: datetime | None = None,
    reason: ChangeReason = ChangeReason.upgrade,
    operator: str = "system",
    store_id: int | None = None,
    known: growth.Held | None = None,
) -> Rung | None:
    """Move the member up to the highest tier their qualifying growth reaches, several steps at
    once, giving each newly reached tier's upgrade gift: the new tier, or None when they stay.
    `known` (the row as the caller just wrote it) spares the lock and the window's sum when
    lifetime growth cannot reach the next tier. Never moves a member down."""
    rungs = ladder(session)
    if base(rungs) is None:
        return None
    now = now or clock.now()
    if known is not None and not _may_rise(rungs, known.tier_id, known.growth):
        return None
    row = lock(session, [member_id])[member_id]
    if not _may_rise(rungs, row.tier_id, row.growth):
        return None
    prog = program(session)
    qualifying = growth.qualifying_growth(session, member_id, prog.metric, now)
    held, target = by_id(rungs, row.tier_id), earned(rungs, qualifying)
    if target is None or (held is not None and target.rank <= held.rank):
        return None
    reached = _highest_reached(session, member_id, held)
    hold_tier(row, target, prog, clock.now())
    session.flush()
    record_change(session, Change(member_id, held, target, reason, operator, qualifying))
    for rung in rungs:
        if reached < rung.rank <= target.rank:
            give_gift(session, member_id, rung, rung.upgrade_gift, store_id)
    return target


def _may_rise(rungs: Sequence[Rung], tier_id: int, lifetime: int) -> bool:
    """Whether lifetime growth (the most any window holds) reaches the tier above the held one."""
    held = by_id(rungs, tier_id)
    higher = above(rungs, held.rank if held else -1)
    return higher is not None and lifetime >= higher.entry_threshold


def _highest_reached(session: Session, member_id: int, held: Rung | None) -> int:
    """The highest rank the member ever held: upgrade gifts are given once per tier."""
    found = session.scalar(
        select(func.max(Tier.rank))
        .join(TierChange, TierChange.to_tier_id == Tier.id)
        .where(TierChange.member_id == member_id)
    )
    return max(found if found is not None else 0, held.rank if held else 0)


def give_gift(
    session: Session, member_id: int, tier: Rung, gift: dict[str, Any], store_id: int | None
) -> None:
    """A tier's gift (`{"coupons": [{"template_id", "count"}], "points": N}`) through the coupon
    and points services, source_ref `tier:<code>`. A gift that cannot go out (template paused or
    over, stock or limits, balance limit) is left out: it never fails the order that earned it."""
    ref = f"tier:{tier.code}"
    for coupon in gift.get("coupons") or []:
        try:
            issue_coupons(
                session,
                SYSTEM,
                coupon["template_id"],
                [member_id] * int(coupon.get("count", 1)),
                source=IssueSource.tier_benefit,
                source_ref=ref,
                store_id=store_id,
            )
        except (TemplateNotFound, TemplateNotActive, TemplateExpired):
            continue
    points = int(gift.get("points") or 0)
    if points > 0:
        # The balance limit: the member's points stay as they are.
        with contextlib.suppress(InvalidInput):
            grants.grant_points(
                session,
                SYSTEM,
                member_id,
                points,
                reason=f"{tier.name} gift",
                store_id=store_id,
                source_ref=ref,
            )


def set_tier(
    session: Session, actor: Actor, member_id: int, tier_code: str, reason: str
) -> Standing:
    """HQ sets a member's tier by hand, with a reason: history `manual`, the review date starts
    again, audited; no gift."""
    SET_TIER.check(actor)
    rungs = ladder(session)
    tier = by_code(rungs, tier_code)
    if tier is None:
        raise InvalidInput("tier_code", f"no tier {tier_code}", code=Reason.unknown_tier)
    row = lock(session, [member_id])[member_id]
    held = by_id(rungs, row.tier_id)
    prog, now = program(session), clock.now()
    qualifying = growth.qualifying_growth(session, member_id, prog.metric, now)
    hold_tier(row, tier, prog, now)
    session.flush()
    change = Change(member_id, held, tier, ChangeReason.manual, actor.name, qualifying, reason)
    record_change(session, change)
    audit.record(
        session,
        actor,
        "tiers.set",
        "member",
        member_id,
        before={"tier": held.code if held else None},
        after={"tier": tier.code, "reason": reason},
    )
    return standings(session, [member_id])[member_id]


def effective_tiers(now: datetime) -> Select[int, int]:
    """(member_id, tier_id) of the tier that counts at `now` (held, or a live paid tier ranked
    higher) for the members with a `member_tiers` row; a member without one holds the base tier
    (`ladder.base`). For segment rules, joined to members by member_id."""
    held, paid = aliased(Tier), aliased(Tier)
    live_higher = and_(MemberTier.paid_until > now, paid.rank > held.rank)
    tier_id = case((live_higher, MemberTier.paid_tier_id), else_=MemberTier.tier_id)
    return (
        select(MemberTier.member_id, tier_id.label("tier_id"))
        .join(held, held.id == MemberTier.tier_id)
        .outerjoin(paid, paid.id == MemberTier.paid_tier_id)
    )
