"""Points: what was earned, burned, expired and adjusted per day of the period (the ledger's
daily facts, net of reversals), and the liability now by month of expiry. The ledger has no
order channel: the report takes none."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.export import Cell
from patron.reports import figures
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

DAILY = ("day", "earned", "burned", "expired", "adjusted")


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    moved = figures.ledger_by_day(session, query, figures.POINTS)
    none = (0,) * len(figures.POINTS)
    daily: list[tuple[Cell, ...]] = [
        (day, *moved.get(day, none)) for day in figures.days_of(query.period)
    ]
    earned, burned, expired, adjusted = (
        sum(day[n] for day in moved.values()) for n in range(len(figures.POINTS))
    )
    liability = figures.points_liability(session, query)
    by_month = Table(
        "liability_by_expiry",
        ("expiry_month", "liability"),
        list(liability.by_expiry_month.items()),
    )
    return Result(
        {
            "points_earned": earned,
            "points_burned": burned,
            "points_expired": expired,
            "points_adjusted": adjusted,
            "burn_rate": figures.share(burned, earned),
            "points_liability": liability.points,
            "points_liability_value": liability.cash_value_fen,
        },
        [Table("daily", DAILY, daily), by_month],
    )


register(
    Report(
        "points",
        "reports.points.title",
        build,
        charts=(
            Chart(
                ChartKind.line,
                "daily",
                "day",
                ("earned", "burned", "expired"),
                "reports.points.chart.daily",
            ),
            Chart(
                ChartKind.bar,
                "liability_by_expiry",
                "expiry_month",
                ("liability",),
                "reports.points.chart.liability",
            ),
        ),
        description="reports.points.description",
    )
)
