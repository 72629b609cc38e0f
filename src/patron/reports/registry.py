"""Every report, declared once: its name (the API's path), its title, who may read it, how it
is built, and the charts the console draws from its tables. The API, the exports and the
console's pages are generated from these declarations."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from patron.core import export
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, NotFound
from patron.core.export import Cell
from patron.core.permissions import Permission
from patron.core.reasons import Reason
from patron.reports import permissions
from patron.reports.query import ReportQuery


class ReportNotFound(NotFound):
    code = "report_not_found"
    title = "Report not found"


@dataclass(frozen=True)
class Table:
    """Rows of one shape: a chart's data, a table under it, a sheet of the export."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]

    def as_dicts(self) -> list[dict[str, Cell]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Result:
    """`summary` holds the headline figures (the API answers them at the top level: money in
    fen, shares 0–1); figures the previous period compares are the numeric ones."""

    summary: Mapping[str, Any]
    tables: Sequence[Table] = ()


class ChartKind(StrEnum):
    line = "line"  # x: a day or month column; series: numeric columns
    bar = "bar"
    stacked_bar = "stacked_bar"
    pie = "pie"  # x: the label column; series: one numeric column
    heatmap = "heatmap"  # x, y: two label columns; series: one value column
    lorenz = "lorenz"  # x: cumulative share of members; series: cumulative share of sales
    sparkline = "sparkline"  # small lines of the summary's figures over `x`


@dataclass(frozen=True)
class Chart:
    kind: ChartKind
    table: str  # the Table it draws
    x: str
    series: tuple[str, ...]
    title: str  # an English message id (N_), translated by the console
    y: str | None = None  # heatmap only


Build = Callable[[Session, Actor, ReportQuery], Result]

# The figures and columns held in fen, by name, unless a report declares its own (`liability`
# is fen in the stored-value report and points in the points report, so it is not here, nor are
# `adjusted` and `net`).
MONEY = frozenset(
    {
        "sales",
        "member_sales",
        "net_sales",
        "aov",
        "refunded",
        "member_refunded",
        "discount",
        "redeeming_sales",
        "recharged",
        "spent",
        "sv_recharged",
        "sv_bonus",
        "sv_spent",
        "sv_refunded",
        "stored_value_liability",
        "refunds",
        "sv_adjusted",
        "liability_principal",
        "liability_bonus",
        "settlement_net",
        "points_liability_value",
        "incremental_revenue",
    }
)


@dataclass(frozen=True)
class Report:
    name: str
    title: str  # an English message id (N_)
    build: Build
    charts: tuple[Chart, ...] = ()
    permission: Permission = permissions.VIEW
    # Whether `compare` asks for the previous period's summary (a snapshot, such as current
    # liability, has none).
    comparable: bool = True
    description: str = ""
    # Filters that mean nothing to this report (e.g. `channel` for stored value) are refused.
    filters: frozenset[str] = field(default_factory=lambda: frozenset({"store", "region"}))
    # The summary's figures and the tables' columns in fen: the console shows them in yuan.
    money: frozenset[str] = MONEY


REPORTS: dict[str, Report] = {}


def register(report: Report) -> Report:
    if report.name in REPORTS:
        raise ValueError(f"report {report.name!r} declared twice")
    REPORTS[report.name] = report
    return report


def get(name: str) -> Report:
    report = REPORTS.get(name)
    if report is None:
        raise ReportNotFound(f"no report {name!r}")
    return report


def readable_by(actor: Actor) -> list[Report]:
    return [r for r in REPORTS.values() if r.permission.allows(actor)]


@dataclass(frozen=True)
class Answer:
    report: Report
    query: ReportQuery
    result: Result
    previous: Result | None


def run(session: Session, actor: Actor, report: Report, query: ReportQuery) -> Answer:
    """The report over the query's period, and over the period before when asked to compare."""
    report.permission.check(actor)
    _room_to_group(session)
    result = report.build(session, actor, query)
    previous = None
    if query.compare and report.comparable:
        previous = report.build(session, actor, query.previous())
    return Answer(report, query, result, previous)


# Reports group a million members' facts in memory; at PostgreSQL's default 4 MB per hash the
# groups spill to disk. And a report's statements, prepared by the driver once they repeat,
# would otherwise get a generic plan after five runs: one for 30 days' rows kept for a year's.
# For this transaction only.
REPORT_WORK_MEM = "64MB"


def _room_to_group(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def change(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, float | None]:
    """Period-over-period change of each numeric figure, relative (0.12: 12% up); None where
    the previous figure is zero or missing."""
    changes: dict[str, float | None] = {}
    for key, value in current.items():
        before = previous.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(before, int | float) and not isinstance(before, bool) and before:
            changes[key] = round((value - before) / abs(before), 4)
        else:
            changes[key] = None
    return changes


def as_json(answer: Answer) -> dict[str, Any]:
    query = answer.query
    body: dict[str, Any] = {
        "report": answer.report.name,
        "from": query.period.first,
        "to": query.period.last,
        "store_id": query.store_id,
        "region_id": query.region_id,
        "channel": query.channel,
        **answer.result.summary,
        "tables": {t.name: t.as_dicts() for t in answer.result.tables},
        "previous": None,
        "change": None,
    }
    if answer.previous is not None:
        before = answer.query.previous().period
        body["previous"] = {"from": before.first, "to": before.last, **answer.previous.summary}
        body["change"] = change(answer.result.summary, answer.previous.summary)
    return body


def export_sheets(answer: Answer) -> list[export.Sheet]:
    """The xlsx workbook's sheets: the summary, then every table."""
    tables = [summary_table(answer), *answer.result.tables]
    return [(t.name, t.columns, t.rows) for t in tables]


def export_table(answer: Answer, name: str | None) -> Table:
    """The table a CSV holds: the one named (or `summary`), by default the first."""
    tables = {t.name: t for t in answer.result.tables}
    if name is None:
        return answer.result.tables[0] if answer.result.tables else summary_table(answer)
    if name == "summary":
        return summary_table(answer)
    if name not in tables:
        raise InvalidInput(
            "table", f"is one of: {', '.join(['summary', *tables])}", code=Reason.unknown_table
        )
    return tables[name]


def export_name(answer: Answer) -> str:
    period = answer.query.period
    return f"{answer.report.name}-{period.first:%Y%m%d}-{period.last:%Y%m%d}"


def summary_table(answer: Answer) -> Table:
    """The headline figures as rows (figure, value[, previous, change]) for the exports."""
    scalars = {
        k: v for k, v in answer.result.summary.items() if isinstance(v, int | float | str | date)
    }
    if answer.previous is None:
        return Table("summary", ("figure", "value"), [(k, v) for k, v in scalars.items()])
    changes = change(answer.result.summary, answer.previous.summary)
    rows: list[tuple[Cell, ...]] = [
        (k, v, answer.previous.summary.get(k), changes.get(k)) for k, v in scalars.items()
    ]
    return Table("summary", ("figure", "value", "previous", "change"), rows)
