"""How members enter journeys. Events enter them as they happen, in the publisher's transaction
(`member.registered`, an order: `order.completed` and first purchase, `member.tier_changed`);
a daily job enters those whose date came (birthday, dormant, points or a coupon expiring, no
purchase since a coupon).

The order path pays nothing for journeys that do not exist: which journeys are running is held
per process (core.ttlcache, dropped when this process changes a journey), so an order with no
running journey sends no statement, and one with a running order-triggered journey sends one
INSERT … SELECT per journey, its entry limit checked inside it.

Entering is idempotent by (journey, member, trigger_ref): a retried trigger enters nobody twice.
The control draw is seeded by the journey's seed and the member: the same member is always on
the same side of a version."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from patron.core import bulk, clock
from patron.core.actor import SYSTEM
from patron.core.db import UTCDateTime, insert_or_skip
from patron.core.events import Event
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.coupons import queries as coupons
from patron.journeys import definitions
from patron.journeys.models import EntryStatus, Journey, JourneyEntry, JourneyStatus, JourneyVersion
from patron.journeys.schemas import DATED_TRIGGERS
from patron.members import queries as members
from patron.members.events import (
    MEMBER_ERASED,
    MEMBER_MERGED,
    MEMBER_REGISTERED,
    MemberErased,
    MemberMerged,
    MemberRegistered,
)
from patron.orders import queries as orders
from patron.orders.events import ORDER_COMPLETED, OrderCompleted
from patron.points import queries as points
from patron.segments import service as segments
from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged

ENTRIES = cast(Table, JourneyEntry.__table__)
CHUNK = 500
EACH_CHUNK = 50_000  # members a statement of `enter_each` enters


@dataclass(frozen=True)
class Plan:
    """What entering the current version of a running journey takes."""

    journey_id: int
    version_id: int
    trigger: dict[str, Any]
    entry_limit: str
    entry_days: int | None
    control_percent: int
    seed: int
    first_step: dict[str, Any]


@dataclass(frozen=True)
class Running:
    plans: dict[str, tuple[Plan, ...]]  # by trigger event
    goals: tuple[tuple[int, int], ...]  # (version_id, days) of versions with a purchase goal


_RUNNING: TtlCache[Running] = TtlCache()
for _model in (Journey, JourneyVersion):
    drop_on_change(_RUNNING, _model, "after_insert", "after_update", "after_delete")


def running(session: Session) -> Running:
    found = _RUNNING.get(None, lambda: _load(session))
    assert found is not None
    return found


def _load(session: Session) -> Running:
    current = and_(
        JourneyVersion.journey_id == Journey.id, JourneyVersion.version == Journey.current_version
    )
    plans: dict[str, list[Plan]] = defaultdict(list)
    rows = session.execute(
        select(JourneyVersion)
        .join(Journey, current)
        .where(Journey.status == JourneyStatus.active.value)
        .order_by(Journey.id)
    ).scalars()
    for version in rows:
        plans[version.trigger["event"]].append(
            Plan(
                version.journey_id,
                version.id,
                version.trigger,
                version.entry_limit,
                version.entry_days,
                version.control_percent,
                version.seed,
                version.steps[0],
            )
        )
    goals = session.execute(
        select(JourneyVersion.id, JourneyVersion.goal)
        .join(Journey, Journey.id == JourneyVersion.journey_id)
        .where(Journey.status.in_([JourneyStatus.active.value, JourneyStatus.paused.value]))
    ).all()
    return Running(
        {event: tuple(found) for event, found in plans.items()},
        tuple(
            (vid, goal["days"]) for vid, goal in goals if goal and goal.get("type") == "purchase"
        ),
    )


def in_control(seed: int, member_id: int, percent: int) -> bool:
    """The seeded draw: the same (seed, member) always lands on the same side."""
    digest = hashlib.blake2b(f"{seed}:{member_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 < percent * 100


def _position(plan: Plan, now: datetime) -> tuple[str, datetime]:
    """Where an entry starts: at its first step, due now (a first wait: due when it ends)."""
    step = plan.first_step
    return step["key"], definitions.wait_until(step, now) if step["type"] == "wait" else now


def _limit_allows(plan: Plan, member_id: Any, now: datetime) -> Any:
    """SQL truth: the entry limit lets the member in again."""
    earlier = [JourneyEntry.journey_id == plan.journey_id, JourneyEntry.member_id == member_id]
    if plan.entry_limit == "every_n_days" and plan.entry_days:
        earlier.append(JourneyEntry.entered_at > now - timedelta(days=plan.entry_days))
    return ~exists().where(*earlier)


def _row(plan: Plan, member_id: int, ref: str, now: datetime) -> dict[str, Any]:
    step_key, wake_at = _position(plan, now)
    return {
        "journey_id": plan.journey_id,
        "version_id": plan.version_id,
        "member_id": member_id,
        "trigger_ref": ref[:64],
        "in_control": in_control(plan.seed, member_id, plan.control_percent),
        "status": EntryStatus.active.value,
        "step_key": step_key,
        "wake_at": wake_at,
        "entered_at": now,
    }


def enter_one(
    session: Session, plan: Plan, member_id: int, ref: str, now: datetime, also: Any = None
) -> None:
    """Enter one member, in one INSERT … SELECT that checks the entry limit (and `also`, a SQL
    truth) and skips an entry already made for the same trigger."""
    row = _row(plan, member_id, ref, now)
    values = [
        literal(v, UTCDateTime()) if isinstance(v, datetime) else literal(v) for v in row.values()
    ]
    condition = _limit_allows(plan, member_id, now)
    chosen = select(*values).where(condition if also is None else and_(condition, also))
    statement = (
        insert_or_skip(session, ENTRIES)
        .from_select(list(row), chosen)
        .on_conflict_do_nothing(index_elements=["journey_id", "member_id", "trigger_ref"])
    )
    session.execute(statement)


def enter_each(
    session: Session, plan: Plan, candidates: Iterable[tuple[int, str]], now: datetime
) -> None:
    """Enter many members, each with its trigger_ref, as `enter_one` would one after another
    (a member named twice enters by the first: their own entry would block the second), two
    statements per EACH_CHUNK members: the members the entry limit keeps out, read at once;
    then one INSERT … SELECT of the others, their refs and control draws sent as one JSON
    parameter, an entry already made for the same trigger skipped. (The limit is not checked
    inside the INSERT: an anti-join against the table being inserted into rescans, for each
    member, every row the statement has inserted so far where the planner expects few rows.)
    The caller holds the members (the tier review: their tier rows), so nothing enters them
    between the read and the insert."""
    first: dict[int, str] = {}
    for member_id, ref in candidates:
        first.setdefault(member_id, ref)
    chosen = list(first.items())
    step_key, wake_at = _position(plan, now)
    columns = [
        "journey_id",
        "version_id",
        "member_id",
        "trigger_ref",
        "in_control",
        "status",
        "step_key",
        "wake_at",
        "entered_at",
    ]
    for start in range(0, len(chosen), EACH_CHUNK):
        chunk = chosen[start : start + EACH_CHUNK]
        blocked = _blocked(session, plan, [m for m, _ in chunk], now)
        rows = [
            {"m": m, "r": ref[:64], "c": in_control(plan.seed, m, plan.control_percent)}
            for m, ref in chunk
            if m not in blocked
        ]
        if not rows:
            continue
        member_id, ref, control = _json_rows(session, rows)
        picked = select(
            literal(plan.journey_id),
            literal(plan.version_id),
            member_id,
            ref,
            control,
            literal(EntryStatus.active.value),
            literal(step_key),
            literal(wake_at, UTCDateTime()),
            literal(now, UTCDateTime()),
        ).where(true())  # SQLite: an upsert's SELECT needs a WHERE (else ON reads as a join's)
        session.execute(
            insert_or_skip(session, ENTRIES)
            .from_select(columns, picked)
            .on_conflict_do_nothing(index_elements=["journey_id", "member_id", "trigger_ref"])
        )


def _blocked(session: Session, plan: Plan, member_ids: list[int], now: datetime) -> set[int]:
    """The members the journey's entry limit keeps out now (`_limit_allows`, for many)."""
    earlier = [
        JourneyEntry.journey_id == plan.journey_id,
        bulk.any_of(session, JourneyEntry.member_id, member_ids),
    ]
    if plan.entry_limit == "every_n_days" and plan.entry_days:
        earlier.append(JourneyEntry.entered_at > now - timedelta(days=plan.entry_days))
    return set(session.scalars(select(JourneyEntry.member_id).where(*earlier)))


def _json_rows(session: Session, rows: list[dict[str, Any]]) -> tuple[Any, Any, Any]:
    """(member id, trigger ref, control draw) columns of `rows` ({"m", "r", "c"}), read by the
    database from one JSON parameter: PostgreSQL's json_to_recordset, SQLite's json_each."""
    data = bindparam("rows", json.dumps(rows, separators=(",", ":")), type_=String)
    if session.get_bind().dialect.name == "postgresql":
        found = (
            func.json_to_recordset(sql_cast(data, JSON))
            .table_valued(column("m", Integer), column("r", String), column("c", Boolean))
            .render_derived(name="candidates", with_types=True)
        )
        return found.c.m, found.c.r, found.c.c
    each = func.json_each(data).table_valued("value").alias("candidates")
    return (
        sql_cast(func.json_extract(each.c.value, "$.m"), Integer),
        sql_cast(func.json_extract(each.c.value, "$.r"), String),
        type_coerce(func.json_extract(each.c.value, "$.c"), Boolean),
    )


def enter_many(
    session: Session, plan: Plan, candidates: Iterable[tuple[int, str]], now: datetime
) -> int:
    """Enter members in bulk (each (member_id, trigger_ref) once; a member named twice enters
    once), as the entry limit allows; how many entered."""
    entered = 0
    first: dict[int, str] = {}
    for member_id, ref in candidates:
        first.setdefault(member_id, ref)
    chosen = list(first.items())
    for start in range(0, len(chosen), CHUNK):
        chunk = chosen[start : start + CHUNK]
        blocked = _blocked(session, plan, [member_id for member_id, _ in chunk], now)
        rows = [_row(plan, m, ref, now) for m, ref in chunk if m not in blocked]
        if not rows:
            continue
        inserted = session.scalars(
            insert_or_skip(session, ENTRIES)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["journey_id", "member_id", "trigger_ref"])
            .returning(ENTRIES.c.id)
        ).all()
        entered += len(inserted)
    return entered


def convert(
    session: Session, member_id: int, goals: Sequence[tuple[int, int]], now: datetime
) -> None:
    """A purchase reached the goal of the member's active entries still inside its window."""
    within = [
        and_(
            JourneyEntry.version_id == version_id,
            JourneyEntry.entered_at > now - timedelta(days=days),
        )
        for version_id, days in goals
    ]
    session.execute(
        update(JourneyEntry)
        .where(
            JourneyEntry.member_id == member_id,
            JourneyEntry.status == EntryStatus.active.value,
            or_(*within),
        )
        .values(status=EntryStatus.converted.value, ended_at=now, step_key=None, wake_at=None)
        .execution_options(synchronize_session=False)
    )


# Event subscribers -------------------------------------------------------------------------


@ORDER_COMPLETED.subscribers.register("journeys.order")
def _order_completed(session: Session, event: Event[OrderCompleted]) -> None:
    order = event.payload
    if order.member_id is None:
        return
    now = clock.now()
    found = running(session)
    if found.goals:  # before entering: this order is no goal of a journey it starts
        convert(session, order.member_id, found.goals, now)
    for plan in found.plans.get("order.completed", ()):
        if order.total >= plan.trigger.get("min_total", 0):
            enter_one(session, plan, order.member_id, f"order:{order.order_id}", now)
    for plan in found.plans.get("first_purchase", ()):
        first = orders.no_other_order(order.member_id, order.order_id)
        enter_one(session, plan, order.member_id, "first_purchase", now, first)


@MEMBER_REGISTERED.subscribers.register("journeys.registered")
def _registered(session: Session, event: Event[MemberRegistered]) -> None:
    now = clock.now()
    for plan in running(session).plans.get("member.registered", ()):
        enter_one(session, plan, event.payload.member_id, "registered", now)


@MEMBER_TIER_CHANGED.subscribers.register("journeys.tier_changed")
def _tier_changed(session: Session, event: Event[TierChanged]) -> None:
    plans = running(session).plans.get("member.tier_changed", ())
    if not plans:
        return
    now = clock.now()
    for plan in plans:
        if _enters(plan, event.payload):
            enter_one(session, plan, event.payload.member_id, _tier_ref(event), now)


@MEMBER_TIER_CHANGED.batch_subscribers.register("journeys.tier_changed")
def _tiers_changed(session: Session, changes: Sequence[Event[TierChanged]]) -> None:
    """Many tier changes at once (the tier review): each journey entered by one INSERT … SELECT
    for all of its members (`enter_each`), as `_tier_changed` would enter them one by one."""
    plans = running(session).plans.get("member.tier_changed", ())
    if not plans:
        return
    now = clock.now()
    for plan in plans:
        chosen = [(e.payload.member_id, _tier_ref(e)) for e in changes if _enters(plan, e.payload)]
        if chosen:
            enter_each(session, plan, chosen, now)


def _enters(plan: Plan, change: TierChanged) -> bool:
    """The tier change is one the journey's trigger enters by (its direction, its tier)."""
    up = change.from_rank is None or change.to_rank > change.from_rank
    direction = plan.trigger.get("direction", "any")
    if direction != "any" and (direction == "up") != up:
        return False
    return plan.trigger.get("to_tier") in (None, change.to_code)


def _tier_ref(event: Event[TierChanged]) -> str:
    return f"tier:{event.payload.to_code}:{int(event.occurred_at.timestamp() * 1000)}"


@MEMBER_MERGED.subscribers.register("journeys.merged")
def _merged(session: Session, event: Event[MemberMerged]) -> None:
    _leave(session, event.payload.source_id)


@MEMBER_ERASED.subscribers.register("journeys.erased")
def _erased(session: Session, event: Event[MemberErased]) -> None:
    _leave(session, event.payload.member_id)


def _leave(session: Session, member_id: int) -> None:
    """A member merged away or erased leaves the journeys they are in (`exited`); the survivor
    of a merge walks their own."""
    session.execute(
        update(JourneyEntry)
        .where(
            JourneyEntry.member_id == member_id,
            JourneyEntry.status == EntryStatus.active.value,
        )
        .values(status=EntryStatus.exited.value, ended_at=clock.now(), step_key=None, wake_at=None)
        .execution_options(synchronize_session=False)
    )


# The daily job -----------------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = clock.business_tz()
    start = datetime.combine(day, time(0), tz)
    return start, start + timedelta(days=1)


def dated_candidates(
    session: Session, trigger: dict[str, Any], now: datetime
) -> list[tuple[int, str]]:
    """(member_id, trigger_ref) of the members a dated trigger finds today (business time)."""
    today = now.astimezone(clock.business_tz()).date()
    event = trigger["event"]
    if event == "birthday":
        day = today + timedelta(days=trigger.get("days_before", 0))
        return [(m, f"birthday:{day.year}") for m in session.scalars(members.birthdays_on(day))]
    if event == "dormant":
        rule = f"recency_days = {int(trigger['days'])}"
        ids = segments.member_ids(session, SYSTEM, rule, now)
        return [(m, f"dormant:{today.isoformat()}") for m in session.scalars(ids)]
    if event == "points_expiring":
        day = today + timedelta(days=trigger["days"])
        found = points.members_with_points_expiring(*_day_bounds(day))
        return [(m, f"points:{day.isoformat()}") for m in session.scalars(found)]
    if event == "coupon_expiring":
        day = today + timedelta(days=trigger["days"])
        query = coupons.expiring_between(*_day_bounds(day), trigger.get("template_id"))
        return [(m, f"coupon:{c}") for m, c in session.execute(query)]
    if event == "no_purchase_after_coupon":
        day = today - timedelta(days=trigger["days"])
        issued = coupons.issued_between(*_day_bounds(day), trigger.get("template_id")).subquery()
        query = select(issued.c.member_id, issued.c.coupon_id).where(
            orders.no_order_since(issued.c.member_id, issued.c.issued_at)
        )
        return [(m, f"coupon:{c}") for m, c in session.execute(query)]
    return []


def enter_dated(session: Session, now: datetime) -> dict[int, int]:
    """Enter today's members into every running journey with a dated trigger: journey id ->
    how many entered. Idempotent for the same day (the trigger_ref names the occasion)."""
    entered: dict[int, int] = {}
    plans = running(session).plans
    for event in sorted(DATED_TRIGGERS):
        for plan in plans.get(event, ()):
            found = dated_candidates(session, plan.trigger, now)
            entered[plan.journey_id] = enter_many(session, plan, found, now)
    return entered
