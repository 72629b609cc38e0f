"""Repurchase: of the members who bought in the period (in the query's stores and channel),
the share who bought on two or more distinct business days; the same within each calendar
month of the period, and within each store (two days at that store). Three grouped
statements over the facts' day range: each member's first and last day, then the buyers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from patron.console.message_ids import N_
from patron.core.actor import Actor
from patron.core.export import Cell
from patron.reports import figures, linked
from patron.reports.member_facts import (
    covered,
    label_of,
    month_number,
    months_of,
    share,
    store_names,
)
from patron.reports.models import MemberDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

RATE_COLUMNS = ("buyers", "repurchasers", "repurchase_rate")


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    ((_, buyers, again),) = _buyers(session, query, None)
    by_month = {key: (n, r) for key, n, r in _buyers(session, query, "month")}
    by_store = _buyers(session, query, "store")
    names = store_names(session, (store_id for store_id, _, _ in by_store))
    monthly: list[tuple[Cell, ...]] = []
    for month in months_of(query.period):
        n, r = by_month.get(month, (0, 0))
        monthly.append((label_of(month), n, r, share(r, n)))
    stores: list[tuple[Cell, ...]] = [
        (store_id, *names.get(store_id, (None, None)), n, r, share(r, n))
        for store_id, n, r in sorted(by_store, key=lambda row: (-row[1], row[0]))
    ]
    return Result(
        {"buyers": buyers, "repurchasers": again, "repurchase_rate": share(again, buyers)},
        (
            Table("monthly", ("month", *RATE_COLUMNS), monthly),
            Table("by_store", ("store_id", "store_code", "store_name", *RATE_COLUMNS), stores),
        ),
    )


def _buyers(session: Session, query: ReportQuery, per: str | None) -> list[tuple[Any, int, int]]:
    """(key, buyers, buyers on two days or more) per month, per store or once (key None).
    Without a channel, counts of the linked member days where they answer; else a member
    bought on two days when their first and last days differ: a hash aggregate of min and
    max, without sorting for distinct days."""
    if per is None:
        found = figures.buyers(session, query)
        return [(None, found.buyers, found.repeat)]
    if per == "store" and query.channel is None:
        by_store = figures.buyers_by_store(session, query)
        return [(store_id, b.buyers, b.repeat) for store_id, b in by_store.items()]
    linked_days = linked.linked_days(query)
    if per == "month" and linked_days is not None:
        by_month = linked.buyers_by_month(session, linked_days, query.period)
        return [(month, b.buyers, b.repeat) for month, b in by_month.items()]
    key = month_number(session, MemberDayFacts.day) if per == "month" else MemberDayFacts.store_id
    days = (
        select(
            key.label("key"),
            func.min(MemberDayFacts.day).label("first"),
            func.max(MemberDayFacts.day).label("last"),
        )
        .where(*covered(query))
        .group_by(key, MemberDayFacts.member_id)
        .subquery("days")
    )
    again = func.sum(case((days.c.first < days.c.last, 1), else_=0))
    rows = session.execute(select(days.c.key, func.count(), again).group_by(days.c.key))
    return [(k, int(n), int(r or 0)) for k, n, r in rows]


register(
    Report(
        "repurchase",
        N_("reports.repurchase.title"),
        build,
        (
            Chart(
                ChartKind.line,
                "monthly",
                "month",
                ("repurchase_rate",),
                N_("reports.repurchase.monthly"),
            ),
            Chart(
                ChartKind.bar,
                "by_store",
                "store_code",
                ("repurchase_rate",),
                N_("reports.repurchase.store"),
            ),
        ),
        description=N_("reports.repurchase.description"),
        filters=frozenset({"store", "region", "channel"}),
    )
)
