"""The tier review (`patron jobs run`): members with a review date past the program's grace days
are measured on their qualifying growth. Below the held tier's retention threshold they go down
one step (or straight to the tier their growth earns, by the program's downgrade mode), with a
history entry `downgrade` and a `member.tier_changed` event each, and hold the lower tier from
now; at or above it they stay, reviewed again a cadence later (a year, or the next month).
A member is downgraded nowhere else.

A member's review dates are the first review of the held tier (`MemberTier.review_at`) and
every cadence after it; the program keeps the cutoff (run time less grace) the last run
covered, so a run reviews the members with a review date after that cutoff and by its own, and
a member who stays is not written at all (`standing.next_review` tells their next review).
Running it twice for the same `now` changes nothing more.

Set-based: the members going down go into a temporary table with their qualifying growth and
target tier in one INSERT … SELECT over the due members; on PostgreSQL their tier rows are locked
in one pass and one statement updates them and inserts the history and the outbox events from
what the UPDATE returns (on SQLite: an UPDATE and two INSERTs); a million members take
seconds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    extract,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.orm import Session, aliased

from patron.core import clock, events
from patron.core.db import UTCDateTime
from patron.core.events import OUTBOX, Event
from patron.tiers import growth, standing
from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged
from patron.tiers.ladder import Rung, base, ladder
from patron.tiers.models import (
    ChangeReason,
    DowngradeMode,
    Evaluation,
    GrowthEntry,
    MemberTier,
    QualifyingMetric,
    Tier,
    TierProgram,
)
from patron.tiers.program import Program, program

OPERATOR = "system"
# The members going down in this run, with what the review decided.
MOVING = Table(
    "tier_review",
    MetaData(),
    Column("member_id", Integer),
    Column("from_tier_id", Integer),
    Column("to_tier_id", Integer),
    Column("qualifying", Integer),
    Column("version", String),  # PostgreSQL: the tier row's xmin when decided
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class ReviewReport:
    reviewed: int
    downgraded: int


def run(session: Session, now: datetime) -> ReviewReport:
    rungs = ladder(session)
    if base(rungs) is None or len(rungs) < 2:  # no tier above the base: nobody goes down
        return ReviewReport(0, 0)
    prog = program(session)
    cutoff = now - timedelta(days=prog.grace_days)
    program_id, through = _claim(session)
    if through is not None and cutoff <= through:
        return ReviewReport(0, 0)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # a few set-based statements over many rows: hash joins in memory, no JIT to compile
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL jit = off"))
    due = _due(session, prog, through, cutoff)
    reviewed = int(session.scalar(select(func.count()).where(due)) or 0)
    connection = session.connection()
    MOVING.create(connection)
    try:
        session.execute(_decided(prog, rungs, now, due, postgres))
        if postgres:
            session.execute(text("ANALYZE tier_review"))  # plans of the joins that follow
        downgraded = _move(session, prog, rungs, now, due, postgres)
        if downgraded:
            _notify(session, rungs, now)
        session.expire_all()
    finally:
        MOVING.drop(connection)
    session.execute(
        update(TierProgram).where(TierProgram.id == program_id).values(reviewed_through=cutoff)
    )
    standing.reviewed(session)
    return ReviewReport(reviewed, downgraded)


def _claim(session: Session) -> tuple[int, datetime | None]:
    """The program row, locked (one review at a time), and the cutoff the last run covered;
    the row with its defaults when the program was never saved."""
    found = session.execute(
        select(TierProgram.id, TierProgram.reviewed_through)
        .order_by(TierProgram.id)
        .limit(1)
        .with_for_update()
    ).first()
    if found is not None:
        return found.id, found.reviewed_through
    row = TierProgram()
    session.add(row)
    session.flush()
    return row.id, None


def _due(
    session: Session, prog: Program, through: datetime | None, cutoff: datetime
) -> ColumnElement[bool]:
    """Members with a review date in (through, cutoff]: their first review, or one a whole
    number of cadences after it (`standing.next_review`, here as SQL over the table)."""
    first = MemberTier.review_at
    by_cutoff = first <= literal(cutoff, UTCDateTime())
    if through is None:
        return by_cutoff
    if prog.evaluation == Evaluation.monthly:
        # past the first review, the next is the first of the month after `through`: the same
        # for everyone
        following = standing.next_review(prog, through, through)
        assert following is not None
        later: ColumnElement[bool] = true() if following <= cutoff else false()
    else:
        later = _next_anniversary(session, first, through) <= literal(cutoff, UTCDateTime())
    return and_(by_cutoff, or_(first > literal(through, UTCDateTime()), later))


def _next_anniversary(session: Session, first: Any, through: datetime) -> Any:
    """The first anniversary of `first` after `through`, in business time."""
    if session.get_bind().dialect.name != "postgresql":
        _register_sqlite_next_review(session, through)
        return type_coerce(func.patron_next_review(first), UTCDateTime())
    zone = clock.business_tz()
    local = func.timezone(zone.key, first)
    done = literal(through.astimezone(zone).replace(tzinfo=None))
    years = sql_cast(extract("year", done) - extract("year", local), Integer)
    same = local + func.make_interval(years)
    later = case((same > done, same), else_=local + func.make_interval(years + 1))
    return type_coerce(func.timezone(zone.key, later), UTCDateTime())


def _register_sqlite_next_review(session: Session, through: datetime) -> None:
    """SQLite keeps naive UTC text and has no time zones: `standing.next_review` as a function
    of the connection."""
    yearly = Program(evaluation=Evaluation.anniversary.value)

    def after(stored: str | None) -> str | None:
        if stored is None:
            return None
        first = datetime.fromisoformat(stored).replace(tzinfo=UTC)
        later = standing.next_review(yearly, first, through)
        assert later is not None
        return (
            later.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )

    driver = session.connection().connection.driver_connection
    driver.create_function("patron_next_review", 1, after, deterministic=True)  # type: ignore[union-attr]


def _decided(
    prog: Program,
    rungs: Sequence[Rung],
    now: datetime,
    due: ColumnElement[bool],
    postgres: bool,
    among: Sequence[int] | None = None,
) -> Any:
    """INSERT into the temporary table the due members (or those of them `among`) whose
    qualifying growth takes them down: one join of the due tier rows with their entries in the
    window, grouped (a hash join over many members, the (member_id, occurred_at) index for a
    few)."""
    wanted = [due] if among is None else [due, MemberTier.member_id.in_(among)]
    version = literal_column("member_tiers.xmin::text") if postgres else literal(None, String)
    if prog.metric == QualifyingMetric.lifetime:
        measured: Any = MemberTier.growth
        found = select(MemberTier).where(*wanted)
    else:
        measured = func.coalesce(func.sum(GrowthEntry.growth), 0)
        counted = and_(
            GrowthEntry.member_id == MemberTier.member_id, *growth.in_window(prog.metric, now)
        )
        found = (
            select(MemberTier)
            .outerjoin(GrowthEntry, counted)
            .where(*wanted)
            .group_by(MemberTier.member_id, version)
        )
    target = _target(prog, rungs, MemberTier.tier_id, measured)
    rows = found.with_only_columns(
        MemberTier.member_id, MemberTier.tier_id, target, measured, version
    )
    moving = (
        rows.where(target != MemberTier.tier_id)
        if prog.metric == QualifyingMetric.lifetime
        else rows.having(target != MemberTier.tier_id)
    )
    return insert(MOVING).from_select(
        ["member_id", "from_tier_id", "to_tier_id", "qualifying", "version"], moving
    )


def _target(
    prog: Program, rungs: Sequence[Rung], held: Any, measured: ColumnElement[int]
) -> ColumnElement[int]:
    """The tier each member holds after the review, as one CASE over the (short) ladder."""
    earned = case(
        *((measured >= r.entry_threshold, r.id) for r in reversed(rungs[1:])),
        else_=rungs[0].id,
    )
    whens = []
    for lower, rung in zip(rungs, rungs[1:], strict=False):
        down = lower.id if prog.downgrade == DowngradeMode.one_step else earned
        whens.append(
            (held == rung.id, case((measured < rung.retention_threshold, down), else_=rung.id))
        )
    return case(*whens, else_=held)


def _move(
    session: Session,
    prog: Program,
    rungs: Sequence[Rung],
    now: datetime,
    due: ColumnElement[bool],
    postgres: bool,
) -> int:
    """Move the members of the temporary table down: the lower tier from now, its first review
    a cadence on, each with its history entry and `member.tier_changed` event. The number moved.

    PostgreSQL, where orders, refunds and merges run alongside: the movers' tier rows are
    locked first, in member id order (as a merge and the order path take them), and a row
    changed since the decision (an order, refund or merge in between: another xmin) is decided
    again under its lock; then one statement updates the rows and writes the history and the
    outbox from what the UPDATE returns. The review takes no lock on the members' rows (the
    history keeps no foreign key that would take one): holding nothing but tier rows, taken in
    one ordered pass, it cannot deadlock with a merge. Members who stay are neither locked nor
    written: the review stands as of its first read for them, as if whatever came later had
    come after it."""
    if not postgres:
        moved = session.execute(_moving(prog, rungs, now))
        _record(session, now)
        _publish(session, rungs, now)
        return int(moved.rowcount or 0)  # type: ignore[attr-defined]
    changed = _lock(session)
    if changed:
        session.execute(delete(MOVING).where(MOVING.c.member_id.in_(changed)))
        session.execute(_decided(prog, rungs, now, due, postgres, changed))
    return int(session.scalar(_moved_with_history(session, prog, rungs, now)) or 0)


def _lock(session: Session) -> list[int]:
    """PostgreSQL: lock the movers' tier rows in member id order; the members whose row changed
    since the decision."""
    locked = (
        select(MemberTier.member_id, literal_column("member_tiers.xmin::text").label("version"))
        .join(MOVING, MOVING.c.member_id == MemberTier.member_id)
        .order_by(MemberTier.member_id)
        .with_for_update(of=MemberTier)
        .cte("locked")
    )
    return list(
        session.scalars(
            select(locked.c.member_id)
            .join(MOVING, MOVING.c.member_id == locked.c.member_id)
            .where(MOVING.c.version != locked.c.version)
        )
    )


def _moving(prog: Program, rungs: Sequence[Rung], now: datetime) -> Any:
    """UPDATE of the tier rows of the members in the temporary table to their lower tier."""
    return (
        update(MemberTier)
        .where(MemberTier.member_id == MOVING.c.member_id)
        .values(
            tier_id=MOVING.c.to_tier_id,
            since=now,
            review_at=_fresh_review_dates(prog, rungs, now),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _moved_with_history(
    session: Session, prog: Program, rungs: Sequence[Rung], now: datetime
) -> Any:
    """PostgreSQL, one statement: the UPDATE, and the history and outbox rows inserted from the
    rows it returns; the number moved. A history row copies the change of a tier row whose
    member and tiers are checked by that row's own foreign keys in this statement."""
    moved = (
        _moving(prog, rungs, now)
        .returning(
            MOVING.c.member_id, MOVING.c.from_tier_id, MOVING.c.to_tier_id, MOVING.c.qualifying
        )
        .cte("moved")
    )
    history = insert(standing.CHANGES).from_select(HISTORY_COLUMNS, _history(moved.c, now))
    outbox = insert(OUTBOX).from_select(OUTBOX_COLUMNS, _events(session, rungs, moved.c, now))
    return (
        select(func.count())
        .select_from(moved)
        .add_cte(history.cte("history"))
        .add_cte(outbox.cte("events"))
    )


def _fresh_review_dates(prog: Program, rungs: Sequence[Rung], now: datetime) -> Any:
    """The review date of a tier entered now, for each tier."""
    dates = [(MOVING.c.to_tier_id == r.id, standing.review_date(prog, r, now)) for r in rungs]
    dated = [(when, literal(at, UTCDateTime())) for when, at in dates if at is not None]
    if not dated:  # no tier is reviewed again (a CASE needs one WHEN)
        return literal(None, UTCDateTime())
    return case(*dated, else_=literal(None, UTCDateTime()))


HISTORY_COLUMNS = [
    "member_id",
    "from_tier_id",
    "to_tier_id",
    "reason",
    "qualifying_growth",
    "operator",
    "note",
    "created_at",
]
OUTBOX_COLUMNS = ["type", "entity_id", "payload", "occurred_at", "attempts"]


def _history(moved: Any, now: datetime) -> Any:
    """The history rows of the members gone down (`moved`: their columns)."""
    return select(
        moved.member_id,
        moved.from_tier_id,
        moved.to_tier_id,
        literal(ChangeReason.downgrade.value),
        moved.qualifying,
        literal(OPERATOR),
        literal(""),
        literal(now, UTCDateTime()),
    )


def _events(session: Session, rungs: Sequence[Rung], moved: Any, now: datetime) -> Any:
    """One `member.tier_changed` outbox row per member gone down (the payload's text put
    together from each tier's part, written once here)."""
    return select(
        literal(MEMBER_TIER_CHANGED.name),
        sql_cast(moved.member_id, String),
        _payload(session, rungs, moved),
        literal(now, UTCDateTime()),
        literal(0),
    )


def _record(session: Session, now: datetime) -> None:
    """SQLite: the history of the members who went down, set-based."""
    session.execute(insert(standing.CHANGES).from_select(HISTORY_COLUMNS, _history(MOVING.c, now)))


def _publish(session: Session, rungs: Sequence[Rung], now: datetime) -> None:
    """SQLite: the outbox rows in one INSERT … SELECT."""
    session.execute(
        insert(OUTBOX).from_select(OUTBOX_COLUMNS, _events(session, rungs, MOVING.c, now))
    )


def _notify(session: Session, rungs: Sequence[Rung], now: datetime) -> None:
    """The in-process subscribers of `member.tier_changed` (if any) told of every member gone
    down at once (`events.publish_many`: a subscriber with a batch form does its work for all of
    them in a few statements, the others are called per event); the outbox rows are written."""
    if not list(MEMBER_TIER_CHANGED.subscribers):
        return
    before, after = aliased(Tier), aliased(Tier)
    rows = session.execute(
        select(
            MOVING.c.member_id,
            before.code,
            before.rank,
            after.code,
            after.rank,
            literal(ChangeReason.downgrade.value),
        )
        .join(before, before.id == MOVING.c.from_tier_id)
        .join(after, after.id == MOVING.c.to_tier_id)
        .order_by(MOVING.c.member_id)
    ).all()
    changed = [Event(MEMBER_TIER_CHANGED.name, str(row[0]), TierChanged(*row), now) for row in rows]
    events.publish_many(session, MEMBER_TIER_CHANGED, changed, outbox_written=True)


def _payload(session: Session, rungs: Sequence[Rung], moved: Any) -> Any:
    """`TierChanged` as JSON text: {"member_id": …, "from_code": …, …, "reason": "downgrade"}."""

    def part(column: Any, side: str) -> Any:
        texts = {
            r.id: json.dumps({f"{side}_code": r.code, f"{side}_rank": r.rank})[1:-1] for r in rungs
        }
        return case(*((column == i, t) for i, t in texts.items()), else_="")

    reason = json.dumps({"reason": ChangeReason.downgrade.value})[1:]
    payload = (
        literal('{"member_id": ')
        + sql_cast(moved.member_id, String)
        + literal(", ")
        + part(moved.from_tier_id, "from")
        + literal(", ")
        + part(moved.to_tier_id, "to")
        + literal(", ")
        + literal(reason)
    )
    if session.get_bind().dialect.name == "postgresql":
        return sql_cast(payload, JSON)
    return type_coerce(payload, JSON)


__all__ = ["ReviewReport", "run", "events"]
