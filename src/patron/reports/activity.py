"""Active members: members with a counted purchase (in the query's stores and channel) in the
period, in each of its calendar months (the first and last clipped to the period), and in the
30 and 90 days up to its last day. Two grouped statements over the facts' day range."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from patron.console.message_ids import N_
from patron.core.actor import Actor
from patron.core.export import Cell
from patron.reports import linked
from patron.reports.member_facts import covered, label_of, month_number, months_of
from patron.reports.models import MemberDayFacts
from patron.reports.query import Period, ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

WINDOWS = (30, 90)


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    return Result(
        _summary(session, query),
        (Table("monthly", ("month", "active_members"), _monthly(session, query)),),
    )


def _summary(session: Session, query: ReportQuery) -> dict[str, int]:
    """Buyers of the period and of the windows ending on its last day: counts of the linked
    days, or (a channel, several stores) each buyer's last day from the earliest start in
    one hash aggregate."""
    period = query.period
    starts = {days: period.last - timedelta(days=days - 1) for days in WINDOWS}
    read = Period(min(period.first, *starts.values()), period.last)
    days = linked.linked_days(query)
    if days is not None:
        windows = [Period(starts[d], period.last) for d in WINDOWS]
        found = linked.buyers_in(session, days, [period, *windows])
        return _summary_of(found[0], found[1:])
    last = (
        select(func.max(MemberDayFacts.day).label("day"))
        .where(*covered(query, read))
        .group_by(MemberDayFacts.member_id)
        .subquery("last")
    )

    def buyers_from(first: date) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((last.c.day >= first, 1), else_=0)), 0)

    row = session.execute(
        select(buyers_from(period.first), *(buyers_from(starts[days]) for days in WINDOWS))
    ).one()
    return _summary_of(int(row[0]), [int(n) for n in row[1:]])


def _summary_of(period: int, windows: list[int]) -> dict[str, int]:
    return {
        "active_members": period,
        **{f"active_{days}d": n for days, n in zip(WINDOWS, windows, strict=True)},
    }


def _monthly(session: Session, query: ReportQuery) -> list[tuple[Cell, ...]]:
    days = linked.linked_days(query)
    if days is not None:
        by_month = linked.buyers_by_month(session, days, query.period)
        found = {month: buyers.buyers for month, buyers in by_month.items()}
    else:
        month = month_number(session, MemberDayFacts.day)
        found = dict(
            session.execute(
                select(month, func.count(func.distinct(MemberDayFacts.member_id)))
                .where(*covered(query))
                .group_by(month)
            ).all()
        )
    return [(label_of(m), int(found.get(m, 0))) for m in months_of(query.period)]


register(
    Report(
        "active",
        N_("reports.active.title"),
        build,
        (
            Chart(
                ChartKind.bar,
                "monthly",
                "month",
                ("active_members",),
                N_("reports.active.monthly"),
            ),
        ),
        description=N_("reports.active.description"),
        filters=frozenset({"store", "region", "channel"}),
    )
)
