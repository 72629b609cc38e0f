"""The growth ledger (成长值): what orders and actions earn, what refunds take back, and the
qualifying growth the ladder is measured on. Every change of a member's growth is an entry;
`MemberTier.growth` caches the sum of a member's entries (lifetime growth).

Qualifying growth by the program's metric: `rolling_12m` sums the entries whose `occurred_at`
lies in (now − 12 months, now], `calendar_year` those since 1 January (business time), and
`lifetime` is the cached sum. An order's refunds count at the order's own time, so the sum over
any window is at most the lifetime sum: the order path looks at a window only when lifetime
growth reaches the next tier."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.util import identity_key

from patron.core import clock, statements
from patron.core.db import insert_or_skip
from patron.core.statements import Prepared
from patron.orders.events import OrderCompleted
from patron.points.earning import eligible_fen, order_facts
from patron.tiers.models import GrowthEntry, GrowthKind, MemberTier, QualifyingMetric
from patron.tiers.program import Program

ENTRIES = cast(Table, GrowthEntry.__table__)
MEMBER_TIERS = cast(Table, MemberTier.__table__)
FEN_PER_YUAN = 100


def order_growth(order: OrderCompleted, member_id: int, program: Program) -> int:
    """floor(eligible fen × growth per yuan / 100): what points, coupons and stored value's bonus
    paid earns nothing, as for points."""
    return eligible_fen(order_facts(order, member_id)) * program.growth_per_yuan // FEN_PER_YUAN


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """A member's tier row after growth was added to it."""

    tier_id: int
    growth: int  # lifetime


def credit(session: Session, entry: dict[str, Any], base_tier_id: int, now: datetime) -> Held:
    """Write one entry and add its growth to the member's tier row, creating the row (holding the
    base tier) when missing, under the row's lock: one statement on PostgreSQL (the entry's
    INSERT rides along as a CTE), two on SQLite. The member's row is held already (the order's
    insert, the refund's or the registration's lock)."""
    values = {
        "member_id": entry["member_id"],
        "tier_id": base_tier_id,
        "since": now,
        "growth": entry["growth"],
        "now": now,
    }
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        values |= {f"entry_{name}": value for name, value in entry.items()}
    tier_id, growth = _add_growth().rows(session, values)[0]
    if not postgres:
        statements.insert_rows(session, ENTRIES, [entry])
    _forget(session, entry["member_id"])
    return Held(tier_id, growth)


@cache
def _add_growth() -> Prepared:
    def build(session: Session) -> Any:
        upsert = insert_or_skip(session, MEMBER_TIERS).values(
            member_id=bindparam("member_id", type_=MEMBER_TIERS.c.member_id.type),
            tier_id=bindparam("tier_id", type_=MEMBER_TIERS.c.tier_id.type),
            since=bindparam("since", type_=MEMBER_TIERS.c.since.type),
            growth=bindparam("growth", type_=MEMBER_TIERS.c.growth.type),
            updated_at=bindparam("now", type_=MEMBER_TIERS.c.updated_at.type),
        )
        statement = upsert.on_conflict_do_update(
            index_elements=["member_id"],
            set_={
                "growth": MEMBER_TIERS.c.growth + upsert.excluded.growth,
                "updated_at": upsert.excluded.updated_at,
            },
        ).returning(MEMBER_TIERS.c.tier_id, MEMBER_TIERS.c.growth)
        if session.get_bind().dialect.name != "postgresql":
            return statement
        columns = [c for c in ENTRIES.c if c.name != "id"]
        entry = insert(ENTRIES).values(
            {c.name: bindparam(f"entry_{c.name}", type_=c.type) for c in columns}
        )
        return statement.add_cte(entry.cte("entry"))

    return Prepared(build)


def _forget(session: Session, member_id: int) -> None:
    """A copy of the row this session loaded earlier is stale now."""
    held = session.identity_map.get(identity_key(MemberTier, member_id))
    if held is not None:
        session.expire(held)


def entry(
    member_id: int,
    kind: GrowthKind,
    growth: int,
    operator: str,
    occurred_at: datetime,
    **fields: Any,
) -> dict[str, Any]:
    """An entry's row with every column given (the fast insert fills no defaults)."""
    row: dict[str, Any] = {
        "member_id": member_id,
        "kind": kind.value,
        "growth": growth,
        "store_id": None,
        "order_id": None,
        "refund_id": None,
        "action": None,
        "merge_partner_id": None,
        "operator": operator,
        "reason": "",
        "occurred_at": occurred_at,
        "created_at": clock.now(),
    }
    return row | fields


@dataclass(frozen=True)
class OrderGrowth:
    earned: int  # the order's growth, G
    reversed: int  # what its refunds took back so far, positive
    occurred_at: datetime | None


def of_order(session: Session, order_id: int) -> OrderGrowth:
    rows = session.execute(
        select(GrowthEntry.kind, func.sum(GrowthEntry.growth), func.max(GrowthEntry.occurred_at))
        .where(GrowthEntry.order_id == order_id)
        .group_by(GrowthEntry.kind)
    ).all()
    sums = {kind: (int(total), at) for kind, total, at in rows}
    earned, occurred_at = sums.get(GrowthKind.order.value, (0, None))
    taken = -sums.get(GrowthKind.refund.value, (0, None))[0]
    return OrderGrowth(earned, taken, occurred_at)


def has_action(session: Session, member_id: int, action: str) -> bool:
    found = session.scalar(
        select(GrowthEntry.id)
        .where(
            GrowthEntry.member_id == member_id,
            GrowthEntry.kind == GrowthKind.action.value,
            GrowthEntry.action == action,
        )
        .limit(1)
    )
    return found is not None


def lifetime_sum(session: Session, member_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(GrowthEntry.growth), 0)).where(
            GrowthEntry.member_id == member_id
        )
    )
    return int(total or 0)


# --- qualifying growth -----------------------------------------------------------------------


def window_start(metric: str, now: datetime) -> datetime | None:
    """Where the metric's window opens (exclusive for rolling_12m, inclusive for
    calendar_year), in UTC; None for lifetime."""
    local = now.astimezone(clock.business_tz())
    if metric == QualifyingMetric.rolling_12m:
        day = 28 if (local.month, local.day) == (2, 29) else local.day
        return local.replace(year=local.year - 1, day=day).astimezone(now.tzinfo)
    if metric == QualifyingMetric.calendar_year:
        first = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return first.astimezone(now.tzinfo)
    return None


def in_window(metric: str, now: datetime) -> list[ColumnElement[bool]]:
    """The conditions on a growth entry counted by a windowed metric at `now`."""
    start = window_start(metric, now)
    assert start is not None
    opens = (
        GrowthEntry.occurred_at > start
        if metric == QualifyingMetric.rolling_12m
        else GrowthEntry.occurred_at >= start
    )
    return [opens, GrowthEntry.occurred_at <= now]


MemberIds = Iterable[int] | Select[Any]


def _members(column: Any, members: MemberIds | None) -> list[ColumnElement[bool]]:
    if members is None:
        return []
    wanted = members if isinstance(members, Select) else sorted(set(members))
    return [column.in_(wanted)]


def qualifying_growth_select(
    metric: str, now: datetime, members: MemberIds | None = None
) -> Select[int, int]:
    """SELECT member_id, qualifying for many members at once (all with growth, or `members`:
    ids or a SELECT of ids); a member it leaves out qualifies with 0. Windows are one grouped
    scan of the entries in the window (the (member_id, occurred_at) index serves a member
    filter); lifetime reads the cached sums."""
    if metric == QualifyingMetric.lifetime:
        return select(MemberTier.member_id, MemberTier.growth.label("qualifying")).where(
            *_members(MemberTier.member_id, members)
        )
    return (
        select(GrowthEntry.member_id, func.sum(GrowthEntry.growth).label("qualifying"))
        .where(*in_window(metric, now), *_members(GrowthEntry.member_id, members))
        .group_by(GrowthEntry.member_id)
    )


def qualifying_growth_of(
    member_id: ColumnElement[int] | InstrumentedAttribute[int], metric: str, now: datetime
) -> Any:
    """The qualifying growth of the member `member_id` names, as a correlated scalar subquery for
    a SELECT over many members (say member_tiers due for review): an index range scan each."""
    if metric == QualifyingMetric.lifetime:
        lifetime = select(MemberTier.growth).where(MemberTier.member_id == member_id)
        return func.coalesce(lifetime.scalar_subquery(), 0)
    window = select(func.sum(GrowthEntry.growth)).where(
        GrowthEntry.member_id == member_id, *in_window(metric, now)
    )
    return func.coalesce(window.scalar_subquery(), 0)


def qualifying_growth(session: Session, member_id: int, metric: str, now: datetime) -> int:
    """One member's qualifying growth."""
    found = session.execute(qualifying_growth_select(metric, now, [member_id])).first()
    return int(found.qualifying or 0) if found is not None else 0
