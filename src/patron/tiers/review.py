"""The tier review (`patron jobs run`): members whose review date plus the program's grace days
has come are measured on their qualifying growth. Below the held tier's retention threshold they
go down one step (or straight to the tier their growth earns, by the program's downgrade mode),
with a history entry `downgrade` and a `member.tier_changed` event each, and hold the lower tier
from now; at or above it they stay, reviewed again one cadence after their review date (a year,
or the next month). A member is downgraded nowhere else.

Set-based: the due members go into a temporary table with their qualifying growth and target
tier in one INSERT … SELECT, then one UPDATE, one INSERT of history and one of outbox events; a
million members take seconds. Running it twice for the same `now` changes nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    case,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
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
from patron.tiers.models import ChangeReason, DowngradeMode, Evaluation, MemberTier, Tier
from patron.tiers.program import Program, program

OPERATOR = "system"
MEMBER_TIERS = growth.MEMBER_TIERS
# The members under review for the run's length, with what the review decided.
REVIEWED = Table(
    "tier_review",
    MetaData(),
    Column("member_id", Integer, primary_key=True),
    Column("from_tier_id", Integer),
    Column("to_tier_id", Integer),
    Column("qualifying", Integer),
    Column("review_at", UTCDateTime()),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class ReviewReport:
    reviewed: int
    downgraded: int


def run(session: Session, now: datetime) -> ReviewReport:
    rungs = ladder(session)
    if base(rungs) is None:
        return ReviewReport(0, 0)
    prog = program(session)
    due = select(MemberTier.member_id).where(
        MemberTier.review_at <= now - timedelta(days=prog.grace_days)
    )
    _lock(session, due)
    connection = session.connection()
    REVIEWED.create(connection)
    try:
        reviewed = _decide(session, prog, rungs, now, due)
        if connection.dialect.name == "postgresql":
            session.execute(text("ANALYZE tier_review"))  # plans of the joins that follow
        downgraded = _apply(session, prog, rungs, now)
    finally:
        REVIEWED.drop(connection)
    return ReviewReport(reviewed, downgraded)


def _lock(session: Session, due: Any) -> None:
    """The due members' tier rows, in member-id order (a merge and the order path lock the tier
    rows in that order too, after the members' rows). The members' rows themselves are not
    held: taking a million key-share locks was a third of the run, and a merge in flight holds
    the tier rows the review waits for."""
    locking = (
        select(MemberTier.member_id)
        .where(MemberTier.member_id.in_(due))
        .order_by(MemberTier.member_id)
        .with_for_update()
    )
    session.execute(select(func.count()).select_from(locking.subquery()))


def _decide(session: Session, prog: Program, rungs: Sequence[Rung], now: datetime, due: Any) -> int:
    qualifying = growth.qualifying_growth_select(prog.metric, now, due).subquery()
    measured = func.coalesce(qualifying.c.qualifying, 0)
    statement = (
        insert(REVIEWED)
        .from_select(
            ["member_id", "from_tier_id", "to_tier_id", "qualifying", "review_at"],
            select(
                MemberTier.member_id,
                MemberTier.tier_id,
                _target(prog, rungs, MemberTier.tier_id, measured),
                measured,
                MemberTier.review_at,
            )
            .select_from(MemberTier)
            .outerjoin(qualifying, qualifying.c.member_id == MemberTier.member_id)
            .where(MemberTier.member_id.in_(due)),
        )
        .execution_options(preserve_rowcount=True)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


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


def _apply(session: Session, prog: Program, rungs: Sequence[Rung], now: datetime) -> int:
    moved = REVIEWED.c.to_tier_id != REVIEWED.c.from_tier_id
    stays_until = _following(session, prog, REVIEWED.c.review_at)
    due_before = now - timedelta(days=prog.grace_days)
    fresh = _fresh_review_dates(prog, rungs, now)
    session.execute(
        update(MemberTier)
        .where(MemberTier.member_id == REVIEWED.c.member_id)
        .values(
            tier_id=REVIEWED.c.to_tier_id,
            since=case((moved, literal(now, UTCDateTime())), else_=MemberTier.since),
            review_at=case(
                (moved, fresh),
                # a run missed for a whole cadence: reviewed now, next a cadence from now
                (stays_until <= literal(due_before, UTCDateTime()), fresh),
                else_=stays_until,
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    downgraded = _record(session, now)
    session.expire_all()
    return downgraded


def _fresh_review_dates(prog: Program, rungs: Sequence[Rung], now: datetime) -> Any:
    """The review date of a tier entered (or confirmed) now, for each tier."""
    dates = [(REVIEWED.c.to_tier_id == r.id, standing.review_date(prog, r, now)) for r in rungs]
    return case(
        *((when, literal(at, UTCDateTime())) for when, at in dates if at is not None),
        else_=literal(None, UTCDateTime()),
    )


def _following(session: Session, prog: Program, review_at: Any) -> Any:
    """One cadence after `review_at` in business time: a year on (the 29th of February gives
    the 28th), or the first of the next month."""
    if session.get_bind().dialect.name == "postgresql":
        zone = clock.business_tz().key
        local = func.timezone(zone, review_at)
        if prog.evaluation == Evaluation.monthly:
            later = func.date_trunc("month", local) + literal_column("interval '1 month'")
        else:
            later = local + literal_column("interval '1 year'")
        return type_coerce(func.timezone(zone, later), UTCDateTime())
    _register_sqlite_cadence(session, prog)
    return type_coerce(func.patron_review_after(review_at), UTCDateTime())


def _register_sqlite_cadence(session: Session, prog: Program) -> None:
    """SQLite keeps naive UTC text and has no time zones: the same rule as the review date of
    the order path, as a function of the connection."""
    top = Rung(0, "", "", "", 1, 0, 0, 0, 100, {}, {})

    def after(stored: str | None) -> str | None:
        if stored is None:
            return None
        at = datetime.fromisoformat(stored).replace(tzinfo=UTC)
        later = standing.review_date(prog, top, at)
        assert later is not None
        return (
            later.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )

    driver = session.connection().connection.driver_connection
    driver.create_function("patron_review_after", 1, after, deterministic=True)  # type: ignore[union-attr]


def _record(session: Session, now: datetime) -> int:
    """History and outbox events for the members who went down, set-based."""
    moved = REVIEWED.c.to_tier_id != REVIEWED.c.from_tier_id
    changes = standing.CHANGES
    inserted = session.execute(
        insert(changes)
        .from_select(
            [
                "member_id",
                "from_tier_id",
                "to_tier_id",
                "reason",
                "qualifying_growth",
                "operator",
                "note",
                "created_at",
            ],
            select(
                REVIEWED.c.member_id,
                REVIEWED.c.from_tier_id,
                REVIEWED.c.to_tier_id,
                literal(ChangeReason.downgrade.value),
                REVIEWED.c.qualifying,
                literal(OPERATOR),
                literal(""),
                literal(now, UTCDateTime()),
            ).where(moved),
        )
        .execution_options(preserve_rowcount=True)
    )
    count = int(inserted.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        _publish(session, now)
    return count


def _publish(session: Session, now: datetime) -> None:
    """One `member.tier_changed` event per member gone down: the outbox rows in one INSERT …
    SELECT, the in-process subscribers (if any) called per event."""
    before, after = aliased(Tier), aliased(Tier)
    moved = REVIEWED.c.to_tier_id != REVIEWED.c.from_tier_id
    joined = (
        select(REVIEWED.c.member_id)
        .join(before, before.id == REVIEWED.c.from_tier_id)
        .join(after, after.id == REVIEWED.c.to_tier_id)
        .where(moved)
    )
    fields = {
        "member_id": REVIEWED.c.member_id,
        "from_code": before.code,
        "from_rank": before.rank,
        "to_code": after.code,
        "to_rank": after.rank,
        "reason": literal(ChangeReason.downgrade.value),
    }
    postgres = session.get_bind().dialect.name == "postgresql"
    build = func.json_build_object if postgres else func.json_object
    payload = build(*(part for name, value in fields.items() for part in (literal(name), value)))
    session.execute(
        insert(OUTBOX).from_select(
            ["type", "entity_id", "payload", "occurred_at", "attempts"],
            joined.with_only_columns(
                literal(MEMBER_TIER_CHANGED.name),
                sql_cast(REVIEWED.c.member_id, String),
                payload,
                literal(now, UTCDateTime()),
                literal(0),
            ),
        )
    )
    handlers = list(MEMBER_TIER_CHANGED.subscribers)
    if not handlers:
        return
    rows = session.execute(joined.with_only_columns(*fields.values())).all()
    for row in rows:
        change = TierChanged(*row)
        event = Event(MEMBER_TIER_CHANGED.name, str(change.member_id), change, now)
        for handler in handlers:
            handler(session, event)


__all__ = ["ReviewReport", "run", "events"]
