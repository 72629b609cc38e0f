"""Keeping the daily facts current: whole business days recomputed set-based (delete, then
insert the day's figures grouped in SQL), for the days that changed since the last refresh.

The days that changed are those of the orders, refunds, points and stored-value entries past
each source's watermark (its highest id seen), re-reading MARGIN ids below it: a transaction
that took its ids earlier but committed after a later one is read on the next refresh. Today
is recomputed every time, and the nightly run recomputes the last RECENT_DAYS days whatever
their ids (rows committed later than the margin allows). Refreshes take the watermarks' rows
FOR UPDATE, so two never overlap, nor a refresh and a merge's recompute of its members (SQLite
takes its write lock up front anyway).

Orders imported in bulk need nothing more: they take new ids, so the next refresh finds their
days, however old."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Executable,
    Select,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.daily import BusinessDays, business_days
from patron.core.db import insert_or_skip
from patron.orders import queries as orders
from patron.points import queries as points
from patron.reports.member_facts import month_number
from patron.reports.models import (
    FactsWatermark,
    LedgerDayFacts,
    MemberDay,
    MemberDayFacts,
    MemberStoreDay,
    SalesDayFacts,
)
from patron.stored_value import queries as stored_value
from patron.stores import service as stores

SOURCES = ("orders", "refunds", "points_entries", "stored_value_entries")
MARGIN = 1000
RECENT_DAYS = 7
DAYS_PER_STATEMENT = 400
WORK_MEM = "256MB"
# Past this many days recomputed, every member day is linked again in one statement rather
# than the members of those days.
RELINK_ALL_DAYS = 31
MEMBERS_PER_STATEMENT = 10_000


def refresh(session: Session, now: datetime | None = None, *, recent: int = 1) -> int:
    """Bring the facts up to date, and recompute the `recent` business days up to `now`'s
    whatever changed (1: today); the number of business days recomputed."""
    now = now or clock.now()
    marks = _locked_watermarks(session, now)
    probe = business_days(session, ())
    since = {source: max(0, last - MARGIN) for source, last in marks.items()}
    changed: list[Executable] = [
        orders.days_changed_since(probe, since["orders"], since["refunds"]),
        points.days_changed_since(probe, since["points_entries"]),
        stored_value.days_changed_since(probe, since["stored_value_entries"]),
    ]
    today = now.astimezone(clock.business_tz()).date()
    days = {today - timedelta(days=n) for n in range(recent)}
    for query in changed:
        days.update(day for day in session.scalars(query) if day is not None)
    recompute(session, days, now)
    _advance(session, marks, now)
    return len(days)


def rebuild(session: Session, now: datetime | None = None) -> int:
    """Every day from scratch (after an import of history, or to check the facts)."""
    session.execute(delete(FactsWatermark))
    for table in (SalesDayFacts, LedgerDayFacts, MemberDayFacts, MemberDay, MemberStoreDay):
        session.execute(delete(table))
    return refresh(session, now)


def recompute_members(session: Session, member_ids: Collection[int], now: datetime) -> None:
    """The members' daily facts again, on every day they bought (a merge moved the orders of
    one to the other)."""
    _locked_watermarks(session, now)
    ids = sorted(set(member_ids))
    session.execute(delete(MemberDayFacts).where(MemberDayFacts.member_id.in_(ids)))
    probe = business_days(session, ())
    _insert(session, MemberDayFacts, orders.members_sales_by_day(probe, ids, now))
    link_member_days(session, ids)


def recompute(session: Session, days: Iterable[date], now: datetime) -> None:
    """The facts of these business days, from the orders and ledgers as they are."""
    wanted = sorted(set(days))
    if session.get_bind().dialect.name == "postgresql":
        # A rebuild groups millions of rows: sorts in memory, and no JIT (seconds of compiling
        # for plans that gain nothing from it). For this transaction only.
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        session.execute(text("SET LOCAL jit = off"))
    store_ids = stores.all_store_ids(session)
    relink_all = len(wanted) > RELINK_ALL_DAYS
    linked_before = [] if relink_all else _members_on(session, MemberDay, wanted)
    for start in range(0, len(wanted), DAYS_PER_STATEMENT):
        chunk = wanted[start : start + DAYS_PER_STATEMENT]
        chosen = business_days(session, chunk)
        for table in (SalesDayFacts, LedgerDayFacts, MemberDayFacts):
            session.execute(delete(table).where(table.day.in_(chunk)))
        _insert_sales(session, chosen, store_ids)
        _insert_ledgers(session, chosen)
        _insert(session, MemberDayFacts, orders.member_sales_by_day(chosen, store_ids, now))
    if relink_all:
        link_member_days(session)
    else:
        members = set(linked_before) | set(_members_on(session, MemberDayFacts, wanted))
        _relink_days(session, wanted, sorted(members))


def _members_on(session: Session, table: Any, days: list[date]) -> list[int]:
    chosen = select(table.member_id).where(table.day.in_(days)).distinct()
    return list(session.scalars(chosen))


# The linked days and what each is linked within: a member's days, a member's days at a store.
LINKED: tuple[tuple[type, tuple[str, ...]], ...] = (
    (MemberDay, ("member_id",)),
    (MemberStoreDay, ("member_id", "store_id")),
)


def link_member_days(session: Session, member_ids: Sequence[int] | None = None) -> None:
    """The members' days (None: every member's), chain-wide and at each store, again from
    their facts, each linked to its neighbours."""
    for table, within in LINKED:
        if member_ids is None:
            session.execute(delete(table))
            _insert(session, table, _linked_days(session, within))
            continue
        for start in range(0, len(member_ids), MEMBERS_PER_STATEMENT):
            chunk = member_ids[start : start + MEMBERS_PER_STATEMENT]
            session.execute(delete(table).where(table.member_id.in_(chunk)))  # type: ignore[attr-defined]
            chosen = MemberDayFacts.member_id.in_(chunk)
            _insert(session, table, _linked_days(session, within, chosen))


def _relink_days(session: Session, days: list[date], member_ids: list[int]) -> None:
    """After the facts of `days` were recomputed: their linked rows again, and the links of the
    members' rows from their last one before the earliest of the days on (older rows keep
    theirs; that last one takes its next day anew)."""
    for table, within in LINKED:
        session.execute(delete(table).where(table.day.in_(days)))  # type: ignore[attr-defined]
        keys = [MemberDayFacts.day, *(getattr(MemberDayFacts, name) for name in within)]
        unlinked = (
            select(*keys, cast(null(), Date), cast(null(), Date), true(), true())
            .where(MemberDayFacts.day.in_(days))
            .distinct()
        )
        columns = ["day", *within, "previous_day", "next_day", "first_in_month", "last_in_month"]
        session.execute(table.__table__.insert().from_select(columns, unlinked))  # type: ignore[attr-defined]
        for start in range(0, len(member_ids), MEMBERS_PER_STATEMENT):
            chunk = member_ids[start : start + MEMBERS_PER_STATEMENT]
            session.execute(_relinked(session, table, within, days[0], chunk))


def _relinked(
    session: Session, table: Any, within: tuple[str, ...], since: date, member_ids: list[int]
) -> Any:
    """The UPDATE linking the members' rows from the last before `since` on."""
    key = [getattr(table, name) for name in within]
    before = (
        select(*key, func.max(table.day).label("day"))
        .where(table.member_id.in_(member_ids), table.day < since)
        .group_by(*key)
        .subquery("before")
    )
    same = [before.c[name] == getattr(table, name) for name in within]
    rows = (
        select(table.day, *key)
        .outerjoin(before, and_(*same))
        .where(table.member_id.in_(member_ids), table.day >= func.coalesce(before.c.day, since))
        .subquery("rows")
    )
    linked = _with_links(session, rows, within).subquery("linked")
    anew = table.day >= since
    return (
        update(table)
        .where(table.day == linked.c.day, *(getattr(table, n) == linked.c[n] for n in within))
        .values(
            previous_day=case((anew, linked.c.previous_day), else_=table.previous_day),
            first_in_month=case((anew, linked.c.first_in_month), else_=table.first_in_month),
            next_day=linked.c.next_day,
            last_in_month=linked.c.last_in_month,
        )
    )


def _linked_days(
    session: Session, within: tuple[str, ...], *where: ColumnElement[bool]
) -> Select[*tuple[object, ...]]:
    """The days members bought (of the facts chosen), per `within` (the member, or the member
    and store), with each one's previous and next, and whether it is the first and last of
    its calendar month."""
    keys = [MemberDayFacts.day, *(getattr(MemberDayFacts, name) for name in within)]
    days = select(*keys).where(*where).distinct().subquery("days")
    return _with_links(session, days, within)


def _with_links(
    session: Session, days: Any, within: tuple[str, ...]
) -> Select[*tuple[object, ...]]:
    """The rows of `days` (day and `within`) with each one's previous and next day among them,
    and whether it is the first and last of its calendar month."""
    group, day = [days.c[name] for name in within], days.c.day
    linked = select(
        day,
        *group,
        func.lag(day).over(partition_by=group, order_by=day).label("previous_day"),
        func.lead(day).over(partition_by=group, order_by=day).label("next_day"),
    ).subquery("linked")
    month = month_number(session, linked.c.day)
    previous, following = linked.c.previous_day, linked.c.next_day
    first = or_(previous.is_(None), month_number(session, previous) < month)
    last = or_(following.is_(None), month_number(session, following) > month)
    return select(
        *linked.c,
        first.label("first_in_month"),
        last.label("last_in_month"),
    )


def _insert(session: Session, table: type, query: Select[*tuple[object, ...]]) -> None:
    columns = [c.name for c in query.selected_columns]
    session.execute(table.__table__.insert().from_select(columns, query))  # type: ignore[attr-defined]


def _insert_sales(session: Session, days: BusinessDays, store_ids: Sequence[int]) -> None:
    sold = orders.sales_by_day(days, store_ids).subquery("sold")
    refunded = orders.refunds_by_day(days).subquery("refunded")
    zero = literal(0)
    both = union_all(
        select(
            sold.c.day,
            sold.c.store_id,
            sold.c.channel,
            sold.c.orders,
            sold.c.sales,
            zero.label("refunded"),
            sold.c.member_orders,
            sold.c.member_sales,
            zero.label("member_refunded"),
        ),
        select(
            refunded.c.day,
            refunded.c.store_id,
            refunded.c.channel,
            zero,
            zero,
            refunded.c.refunded,
            zero,
            zero,
            refunded.c.member_refunded,
        ),
    ).subquery("both")
    _insert(session, SalesDayFacts, _summed(both, ("day", "store_id", "channel")))


def _insert_ledgers(session: Session, days: BusinessDays) -> None:
    moved = points.ledger_by_day(days).subquery("points")
    value = stored_value.ledger_by_day(days).subquery("stored_value")
    zero = literal(0)
    point_columns = ("points_earned", "points_burned", "points_expired", "points_adjusted")
    value_columns = ("sv_recharged", "sv_bonus", "sv_spent", "sv_refunded", "sv_adjusted")
    both = union_all(
        select(
            moved.c.day,
            moved.c.store_id,
            *(moved.c[name] for name in point_columns),
            *(zero.label(name) for name in value_columns),
        ),
        select(
            value.c.day,
            value.c.store_id,
            *(zero for _ in point_columns),
            *(value.c[name] for name in value_columns),
        ),
    ).subquery("both")
    _insert(session, LedgerDayFacts, _summed(both, ("day", "store_id")))


def _summed(rows: object, keys: Sequence[str]) -> Select[*tuple[object, ...]]:
    columns = rows.c  # type: ignore[attr-defined]
    figures = [c for c in columns if c.name not in keys]
    return select(
        *(columns[k] for k in keys),
        *(func.sum(c).label(c.name) for c in figures),
    ).group_by(*(columns[k] for k in keys))


def _locked_watermarks(session: Session, now: datetime) -> dict[str, int]:
    seed = insert_or_skip(session, FactsWatermark.__table__).values(  # type: ignore[arg-type]
        [{"source": s, "last_id": 0, "refreshed_at": now} for s in SOURCES]
    )
    session.execute(seed.on_conflict_do_nothing(index_elements=["source"]))
    rows = session.execute(
        select(FactsWatermark.source, FactsWatermark.last_id)
        .order_by(FactsWatermark.source)
        .with_for_update()
    )
    return {source: int(last) for source, last in rows}


def _advance(session: Session, marks: dict[str, int], now: datetime) -> None:
    order_id, refund_id = session.execute(orders.last_ids()).one()
    latest = {
        "orders": order_id,
        "refunds": refund_id,
        "points_entries": session.scalar(points.last_entry_id()),
        "stored_value_entries": session.scalar(stored_value.last_entry_id()),
    }
    for source, last in latest.items():
        row = session.get(FactsWatermark, source)
        assert row is not None
        row.last_id = max(marks[source], int(last or 0))
        row.refreshed_at = now
    session.flush()
