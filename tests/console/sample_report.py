"""A throwaway report for the console's report pages: its figures follow from the query alone
(the days of the period, the stores it covers, the channel), so a test knows what the page must
show, and its tables feed one chart of each kind the console draws."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table
from patron.stores import service as stores

CURVE = [(0.0, 0.0), (0.2, 0.62), (0.5, 0.86), (0.8, 0.96), (1.0, 1.0)]


def day_sales(day: date) -> int:
    """Fen sold on a day: grows with the day of the month, so two periods differ."""
    return 10_000 + 123 * day.day


def build(session: Session, _actor: Actor, query: ReportQuery) -> Result:
    days = [query.period.first + timedelta(days=n) for n in range(query.period.days)]
    daily = [(day, day_sales(day), day.day % 7 + 1) for day in days]
    sales = sum(row[1] for row in daily)
    orders = sum(row[2] for row in daily)
    codes = (
        sorted(stores.codes_by_id(session, query.store_ids).values())
        if query.store_ids is not None
        else ["ALL"]
    )
    summary = {
        "sales": sales,
        "orders": orders,
        "member_share": 0.25,
        "gini": 0.4125,
        "channel": query.channel or "",
    }
    tables = [
        Table("daily", ("day", "sales", "orders"), list(daily)),
        Table("stores", ("store_code", "orders"), [(code, orders) for code in codes]),
        Table("channels", ("channel", "sales"), [("pos", sales - 5000), ("mini_program", 5000)]),
        Table(
            "cohorts",
            ("cohort", "offset", "retention"),
            [
                (f"2026-0{m}", k, round(1 - 0.2 * k - 0.05 * m, 2))
                for m in (1, 2, 3)
                for k in range(3)
            ],
        ),
        Table("curve", ("members_share", "sales_share"), list(CURVE)),
    ]
    return Result(summary, tables)


def sample(name: str = "sample") -> Report:
    return Report(
        name,
        "Sample report",
        build,
        charts=(
            Chart(ChartKind.sparkline, "daily", "day", ("sales", "orders"), "Daily"),
            Chart(ChartKind.line, "daily", "day", ("sales",), "Sales per day"),
            Chart(ChartKind.bar, "stores", "store_code", ("orders",), "Orders per store"),
            Chart(ChartKind.pie, "channels", "channel", ("sales",), "Sales per channel"),
            Chart(ChartKind.heatmap, "cohorts", "offset", ("retention",), "Retention", y="cohort"),
            Chart(ChartKind.lorenz, "curve", "members_share", ("sales_share",), "Lorenz curve"),
        ),
        filters=frozenset({"store", "region", "channel"}),
    )
