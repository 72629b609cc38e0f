"""Stored value: what was recharged (principal), given as bonus, spent and refunded per day of
the period (the ledger's daily facts), the liability now, and the period's cross-store
settlement (stored value's own report). The ledger has no order channel."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.export import Cell
from patron.reports import figures
from patron.reports.query import ReportQuery
from patron.reports.registry import MONEY, Chart, ChartKind, Report, Result, Table, register
from patron.stored_value import reports as stored_value
from patron.stored_value.permissions import VIEW_FIGURES

DAILY = ("day", *figures.STORED_VALUE)


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    moved = figures.ledger_by_day(session, query, figures.STORED_VALUE)
    none = (0,) * len(figures.STORED_VALUE)
    daily: list[tuple[Cell, ...]] = [
        (day, *moved.get(day, none)) for day in figures.days_of(query.period)
    ]
    totals = {
        name: sum(day[n] for day in moved.values()) for n, name in enumerate(figures.STORED_VALUE)
    }
    held = figures.stored_value_liability(session, actor, query)
    period = stored_value.Period(query.period.first, query.period.last)
    settled = stored_value.settlement(session, figures.scoped(actor, query), period)
    return Result(
        {
            **totals,
            "stored_value_liability": held.total,
            "liability_principal": held.principal,
            "liability_bonus": held.bonus,
            "settlement_net": settled.totals.net,
        },
        [
            Table("daily", DAILY, daily),
            # Its last row, the totals, is left to the summary: the chart draws stores.
            Table(
                "settlement",
                stored_value.SETTLEMENT_COLUMNS,
                list(stored_value.settlement_rows(settled))[:-1],
            ),
        ],
    )


register(
    Report(
        "stored_value",
        "reports.stored_value.title",
        build,
        charts=(
            Chart(
                ChartKind.line,
                "daily",
                "day",
                ("sv_recharged", "sv_spent", "sv_refunded"),
                "reports.stored_value.chart.daily",
            ),
            Chart(
                ChartKind.bar,
                "settlement",
                "store_id",
                ("net",),
                "reports.stored_value.chart.settlement",
            ),
        ),
        permission=VIEW_FIGURES,
        description="reports.stored_value.description",
        # The settlement's columns are fen here (in the points report, `adjusted` is points).
        money=MONEY | {"adjusted", "net"},
    )
)
