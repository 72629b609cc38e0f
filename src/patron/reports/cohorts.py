"""Cohort retention: the members who made their first counted purchase (`cohorts`), or who
registered (`cohorts_registration`), in each calendar month of the period, and the share of
each cohort buying in each of the 12 months from its own (0 = the cohort's month).

The period is widened to the first of its first month, so that every cohort is a whole month,
and what is seen ends on its last day: a cohort's later months beyond it are not shown (a
triangle). Purchases are those in the query's stores and channel; a first purchase is the
first there (none earlier in those stores and channel, by the facts' (member_id, day) index;
chain-wide and for one store, the linked member days say it).
Registrations are by home store (as in `growth`). One statement per report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import CTE, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from patron.console.message_ids import N_
from patron.core.actor import Actor
from patron.core.daily import business_days
from patron.core.export import Cell
from patron.members import queries as members
from patron.reports.linked import Linked, linked_days
from patron.reports.member_facts import (
    covered,
    days_of,
    in_scope,
    label_of,
    month_number,
    months_of,
    number_of,
    share,
)
from patron.reports.models import MemberDayFacts
from patron.reports.query import Period, ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

MONTHS = 12
SIZE = -1  # the offset that carries a cohort's size in the statement's rows
COLUMNS = ("cohort", "month_offset", "members", "buyers", "retention")


def widened(period: Period) -> Period:
    return Period(period.first.replace(day=1), period.last)


def _bought(session: Session, query: ReportQuery) -> CTE:
    """Each member's months with a purchase: (member_id, month). From the linked days where
    they answer: those that are their member's first of the month."""
    days = linked_days(query)
    if days is not None:
        return _linked_months(session, query, days, days.days.first_in_month, "bought", "month")
    month = month_number(session, MemberDayFacts.day)
    return (
        select(MemberDayFacts.member_id, month.label("month"))
        .where(*covered(query, widened(query.period)))
        .group_by(MemberDayFacts.member_id, month)
        .cte("bought")
    )


def by_first_purchase(session: Session, query: ReportQuery, bought: CTE) -> CTE:
    """The buyers of the period with no purchase before it: (member_id, cohort month). From
    the linked days where they answer: those with none before them."""
    days = linked_days(query)
    if days is not None:
        first = days.days.previous_day.is_(None)
        return _linked_months(session, query, days, first, "cohorts", "cohort")
    firsts = (
        select(bought.c.member_id, func.min(bought.c.month).label("cohort"))
        .group_by(bought.c.member_id)
        .subquery("firsts")
    )
    earlier = aliased(MemberDayFacts)
    before = (
        select(earlier.member_id)
        .where(
            earlier.member_id == firsts.c.member_id,
            earlier.day < widened(query.period).first,
            *in_scope(query, earlier),
        )
        .exists()
    )
    return select(firsts.c.member_id, firsts.c.cohort).where(~before).cte("cohorts")


def _linked_months(
    session: Session, query: ReportQuery, days: Linked, chosen: Any, name: str, label: str
) -> CTE:
    """(member_id, month as `label`) of the linked days of the widened period that are
    `chosen`."""
    period = widened(query.period)
    month = month_number(session, days.days.day)
    return (
        select(days.days.member_id, month.label(label))
        .where(*days.between(period.first, period.last), chosen)
        .cte(name)
    )


def by_registration(session: Session, query: ReportQuery, bought: CTE) -> CTE:
    """The members registered in the period's months: (member_id, cohort month)."""
    days = business_days(session, days_of(widened(query.period)))
    new = members.registered_on(days, query.store_ids).subquery("new")
    return select(
        new.c.id.label("member_id"), month_number(session, new.c.day).label("cohort")
    ).cte("cohorts")


Cohorts = Callable[[Session, ReportQuery, CTE], CTE]


def retention(cohorts_of: Cohorts) -> Callable[[Session, Actor, ReportQuery], Result]:
    def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
        bought = _bought(session, query)
        cohorts = cohorts_of(session, query, bought)
        offset = bought.c.month - cohorts.c.cohort
        cells = (
            select(cohorts.c.cohort, offset, func.count())
            .join(bought, bought.c.member_id == cohorts.c.member_id)
            .where(offset.between(0, MONTHS - 1))
            .group_by(cohorts.c.cohort, offset)
        )
        sizes = select(cohorts.c.cohort, literal(SIZE), func.count()).group_by(cohorts.c.cohort)
        found = {(c, k): int(n) for c, k, n in session.execute(union_all(cells, sizes))}
        return _result(query, found)

    return build


def _result(query: ReportQuery, found: dict[tuple[int, int], int]) -> Result:
    last = number_of(query.period.last)
    rows: list[tuple[Cell, ...]] = []
    matrix: list[tuple[Cell, ...]] = []
    for cohort in months_of(query.period):
        members_ = found.get((cohort, SIZE), 0)
        seen = range(min(MONTHS, last - cohort + 1))
        shares: list[Any] = [None] * MONTHS
        for k in seen:
            buyers = found.get((cohort, k), 0)
            shares[k] = share(buyers, members_)
            rows.append((label_of(cohort), k, members_, buyers, shares[k]))
        matrix.append((label_of(cohort), members_, *shares))
    seen_twice = [c for c in months_of(query.period) if c < last]
    return Result(
        {
            "members": sum(found.get((c, SIZE), 0) for c in months_of(query.period)),
            "month1_retention": share(
                sum(found.get((c, 1), 0) for c in seen_twice),
                sum(found.get((c, SIZE), 0) for c in seen_twice),
            ),
        },
        (
            Table("retention", COLUMNS, rows),
            Table("matrix", ("cohort", "members", *(f"m{k}" for k in range(MONTHS))), matrix),
        ),
    )


def _charts(title: str) -> tuple[Chart, ...]:
    return (
        Chart(ChartKind.heatmap, "retention", "month_offset", ("retention",), title, y="cohort"),
    )


register(
    Report(
        "cohorts",
        N_("reports.cohorts.title"),
        retention(by_first_purchase),
        _charts(N_("reports.cohorts.heatmap")),
        description=N_("reports.cohorts.description"),
        filters=frozenset({"store", "region", "channel"}),
    )
)
register(
    Report(
        "cohorts_registration",
        N_("reports.cohorts_registration.title"),
        retention(by_registration),
        _charts(N_("reports.cohorts_registration.heatmap")),
        description=N_("reports.cohorts_registration.description"),
        filters=frozenset({"store", "region", "channel"}),
    )
)
