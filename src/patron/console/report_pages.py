"""The reports (报表), drawn from the report registry: an index of the reports the user may read,
and a page per report with its filters, its headline figures and their change over the period
before, each declared chart (Apache ECharts, static/report-charts.js) with its table under it,
and the same CSV and xlsx downloads as the API. The console home shows the overview's figures
with their sparklines.

Money is in fen in the reports (`Report.money` names it) and shown in yuan; a figure or column
whose name ends in `share`, `rate`, `retention` or `conversion` (or starts with `uplift`) is a
share 0–1, shown in per cent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from patron.console.choices import store_options
from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors, parse_enum, parse_id
from patron.console.i18n import NOTHING, Translator, has_key
from patron.console.message_ids import N_
from patron.console.points_forms import refused
from patron.console.web import ConsoleActorDep, ErrorPage, Tx, render, require_console, t_for
from patron.core import export
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.orders.models import OrderChannel
from patron.reports import catalog, registry  # noqa: F401 - catalog declares the reports
from patron.reports import permissions as report_policy
from patron.reports.query import Period, ReportQuery, period_of, report_query
from patron.reports.registry import Answer, Chart, ChartKind, Report, ReportNotFound, Table
from patron.stores import service as stores

router = APIRouter(prefix="/reports")
OVERVIEW = "overview"
SHARE_ENDINGS = ("share", "rate", "retention", "conversion")

# Column and figure names → their words; a name not here is shown as it is.
LABELS = {
    "day": N_("reports.column.day"),
    "month": N_("reports.column.month"),
    "week": N_("reports.column.week"),
    "store": N_("reports.column.store"),
    "store_id": N_("reports.column.store_id"),
    "store_code": N_("reports.column.store_code"),
    "store_name": N_("reports.column.store_name"),
    "region": N_("reports.column.region"),
    "channel": N_("reports.column.channel"),
    "guide": N_("reports.column.guide"),
    "guide_id": N_("reports.column.guide_id"),
    "member_id": N_("reports.column.member_id"),
    "tier": N_("reports.column.tier"),
    "rfm": N_("reports.column.rfm"),
    "rfm_class": N_("reports.column.rfm"),
    "lifecycle": N_("reports.column.lifecycle"),
    "stage": N_("reports.column.lifecycle"),
    "cohort": N_("reports.column.cohort"),
    "offset": N_("reports.column.offset"),
    "months_after": N_("reports.column.offset"),
    "members": N_("reports.column.members"),
    "count": N_("reports.column.count"),
    "share": N_("reports.column.share"),
    "rate": N_("reports.column.rate"),
    "retention": N_("reports.column.retention"),
    "sales": N_("reports.column.sales"),
    "net_sales": N_("reports.column.net_sales"),
    "member_sales": N_("reports.column.member_sales"),
    "member_share": N_("reports.column.member_share"),
    "sales_share": N_("reports.column.sales_share"),
    "members_share": N_("reports.column.members_share"),
    "orders": N_("reports.column.orders"),
    "member_orders": N_("reports.column.member_orders"),
    "aov": N_("reports.column.aov"),
    "refunded": N_("reports.column.refunded"),
    "new_members": N_("reports.column.new_members"),
    "active_members": N_("reports.column.active_members"),
    "registrations": N_("reports.column.registrations"),
    "first_purchases": N_("reports.column.first_purchases"),
    "conversion_rate": N_("reports.column.conversion_rate"),
    "repurchase_rate": N_("reports.column.repurchase_rate"),
    "repurchasers": N_("reports.column.repurchasers"),
    "buyers": N_("reports.column.buyers"),
    "top20_share": N_("reports.column.top20_share"),
    "gini": N_("reports.column.gini"),
    "points_earned": N_("reports.column.points_earned"),
    "points_burned": N_("reports.column.points_burned"),
    "points_expired": N_("reports.column.points_expired"),
    "points_adjusted": N_("reports.column.points_adjusted"),
    "points_liability": N_("reports.column.points_liability"),
    "earned": N_("reports.column.points_earned"),
    "burned": N_("reports.column.points_burned"),
    "expired": N_("reports.column.points_expired"),
    "expiry_month": N_("reports.column.expiry_month"),
    "liability": N_("reports.column.liability"),
    "sv_recharged": N_("reports.column.sv_recharged"),
    "sv_bonus": N_("reports.column.sv_bonus"),
    "sv_spent": N_("reports.column.sv_spent"),
    "sv_refunded": N_("reports.column.sv_refunded"),
    "recharged": N_("reports.column.sv_recharged"),
    "spent": N_("reports.column.sv_spent"),
    "stored_value_liability": N_("reports.column.stored_value_liability"),
    "issued": N_("reports.column.issued"),
    "redeemed": N_("reports.column.redeemed"),
    "redemption_rate": N_("reports.column.redemption_rate"),
    "discount": N_("reports.column.discount"),
    "redeeming_sales": N_("reports.column.redeeming_sales"),
    "campaign": N_("reports.column.campaign"),
    "uplift": N_("reports.column.uplift"),
    "name": N_("reports.column.name"),
    "code": N_("reports.column.code"),
    "daily": N_("reports.table.daily"),
    "monthly": N_("reports.table.monthly"),
    "summary": N_("reports.table.summary"),
    "adjusted": N_("reports.column.adjusted"),
    "net": N_("reports.column.net"),
    "rank": N_("reports.column.rank"),
    "template_id": N_("reports.column.template_id"),
    "type": N_("reports.column.type"),
    "campaign_id": N_("reports.column.campaign_id"),
    "status": N_("reports.column.status"),
    "launched_at": N_("reports.column.launched_at"),
    "complete": N_("reports.column.complete"),
    "treated_members": N_("reports.column.treated_members"),
    "control_members": N_("reports.column.control_members"),
    "treated_conversion": N_("reports.column.treated_conversion"),
    "control_conversion": N_("reports.column.control_conversion"),
    "uplift_ci_low": N_("reports.column.uplift_ci_low"),
    "uplift_ci_high": N_("reports.column.uplift_ci_high"),
    "incremental_revenue": N_("reports.column.incremental_revenue"),
    "converted_30d": N_("reports.column.converted_30d"),
    "month_offset": N_("reports.column.offset"),
    "buyers_share": N_("reports.column.members_share"),
    "burn_rate": N_("reports.column.burn_rate"),
    "points_liability_value": N_("reports.column.points_liability_value"),
    "liability_principal": N_("reports.column.liability_principal"),
    "liability_bonus": N_("reports.column.liability_bonus"),
    "settlement_net": N_("reports.column.settlement_net"),
    "refunds": N_("reports.column.refunded"),
    "sv_adjusted": N_("reports.column.sv_adjusted"),
    "upgrades": N_("reports.column.upgrades"),
    "downgrades": N_("reports.column.downgrades"),
    "stores": N_("reports.column.stores"),
    "guides": N_("reports.column.guides"),
    "campaigns": N_("reports.column.campaigns"),
    "liability_by_expiry": N_("reports.table.liability_by_expiry"),
    "settlement": N_("reports.table.settlement"),
    "by_channel": N_("reports.table.by_channel"),
    "by_store": N_("reports.table.by_store"),
    "matrix": N_("reports.table.matrix"),
    "curve": N_("reports.table.curve"),
    "top_guides": N_("reports.table.top_guides"),
    "per_tier": N_("reports.table.per_tier"),
    "per_month": N_("reports.table.per_month"),
    "templates": N_("reports.table.templates"),
}
UNKNOWN = {
    "store": N_("reports.filter.unknown_store"),
    "region": N_("reports.filter.unknown_region"),
    "channel": N_("reports.filter.unknown_channel"),
}
# The query's fields by the filter that sets them.
FILTER_OF = {"store_id": "store", "region_id": "region", "store_ids": "store"}
# Columns whose values are codes the console has words for.
VALUE_LABELS = {
    "channel": "order_channel.",
    "lifecycle": "profiles.lifecycle.",
    "stage": "profiles.lifecycle.",
    "rfm": "profiles.rfm.",
    "rfm_class": "profiles.rfm.",
    "type": "coupon_type.",
}


def words(t: Translator, message_id: str) -> str:
    """A report's title, a chart's or a column's words; the id itself when the console has no
    words for it (a report declared without catalog entries still shows)."""
    return t(message_id) if message_id and has_key(message_id) else message_id


def label(t: Translator, name: str) -> str:
    return words(t, LABELS[name]) if name in LABELS else name


def is_share(name: str) -> bool:
    """Shares and their differences (a campaign's uplift and its bounds) are 0–1."""
    return name.endswith(SHARE_ENDINGS) or name.startswith("uplift")


# --- the filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The filters as typed (for the form) and the query they make; a filter refused is named
    beside its input and not applied."""

    values: dict[str, str]
    query: ReportQuery
    errors: FormErrors


def _period(values: dict[str, str], t: Translator, problems: dict[str, str]) -> Period:
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        start = day_start(values[name]) if values[name] else None
        if values[name] and start is None:
            problems[name] = t("reason.date")
        days[name] = start.date() if start else None
    try:
        return period_of(days["from"], days["to"])
    except InvalidInput as error:  # reversed, or too long
        problems.update(form_errors(error, t).fields)
        return period_of(None, None)


def _choice(
    session: Session, actor: Actor, report: Report, values: dict[str, str], t: Translator
) -> Choice:
    problems: dict[str, str] = {}
    period = _period(values, t, problems)
    wanted: dict[str, int | None] = {}
    for name in ("store", "region"):
        wanted[name] = parse_id(values[name]) if values[name] else None
        if values[name] and (wanted[name] is None or name not in report.filters):
            problems[name] = t(UNKNOWN[name])
            wanted[name] = None
    channel = parse_enum(OrderChannel, values["channel"])
    if values["channel"] and (channel is None or "channel" not in report.filters):
        problems["channel"] = t(UNKNOWN["channel"])
        channel = None
    compare = bool(values["compare"]) and report.comparable
    try:
        query = report_query(
            session,
            actor,
            period,
            store_id=wanted["store"],
            region_id=wanted["region"],
            channel=channel.value if channel else None,
            compare=compare,
        )
    except (stores.StoreNotFound, stores.RegionNotFound) as error:
        name = "store" if isinstance(error, stores.StoreNotFound) else "region"
        problems[name] = t(UNKNOWN[name])
        query = report_query(session, actor, period, compare=compare)
    shown = {**values, "compare": "1" if compare else ""}
    for name, day in (("from", period.first), ("to", period.last)):
        if name not in problems:
            shown[name] = day.isoformat()
    errors = refused(problems, t, status=200) if problems else NO_ERRORS
    return Choice(shown, query, errors)


# --- what the page shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    numeric: bool


@dataclass(frozen=True)
class TableView:
    name: str
    label: str
    columns: list[Column]
    rows: list[list[str]]
    csv_url: str


@dataclass(frozen=True)
class ChartView:
    id: str
    kind: str
    title: str
    # The table under the chart; None when an earlier chart of the page shows the same one.
    table: TableView | None


@dataclass(frozen=True)
class Card:
    name: str
    label: str
    value: str
    previous: str | None
    change: str | None
    trend: str  # "up", "down" or ""
    spark: str | None  # the id of its sparkline's box


@dataclass(frozen=True)
class Figures:
    """The headline cards and the data of their sparklines and of the page's charts."""

    cards: list[Card]
    charts: list[ChartView]
    tables: list[TableView]  # the tables no chart draws
    data: dict[str, Any]


class Cells:
    """How one report's cells read on the page and in its charts."""

    def __init__(self, report: Report, t: Translator) -> None:
        self.report = report
        self.t = t

    def kind(self, name: str) -> str:
        if name in self.report.money:
            return "money"
        return "share" if is_share(name) else ""

    def text(self, name: str, value: Any) -> str:
        t = self.t
        if value is None:
            return NOTHING
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float | Decimal):
            kind = self.kind(name)
            if kind == "money":
                return t.yuan(round(value))
            if kind == "share":
                return t.percent(float(value) * 100)
            if isinstance(value, int):
                return t.num(value)
            return format_decimal(value, "#,##0.###", locale=t.locale)
        if isinstance(value, datetime):
            return t.moment(value)
        if isinstance(value, date):
            return value.isoformat()
        prefix = VALUE_LABELS.get(name)
        if prefix and has_key(prefix + str(value)):
            return t(prefix + str(value))
        return str(value)

    def number(self, name: str, value: Any) -> Any:
        """A cell as a chart plots it: money in yuan, shares in per cent, labels in words."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float | Decimal):
            kind = self.kind(name)
            if kind == "money":
                return round(float(value) / 100, 2)
            if kind == "share":
                return round(float(value) * 100, 2)
            return value if isinstance(value, int) else float(value)
        return self.text(name, value)

    def unit(self, name: str) -> str:
        return {"money": "yuan", "share": "percent"}.get(self.kind(name), "")


def _table_view(cells: Cells, table: Table, export_url: str) -> TableView:
    numeric = {
        name: any(isinstance(row[i], int | float | Decimal) for row in table.rows)
        for i, name in enumerate(table.columns)
    }
    columns = [Column(n, label(cells.t, n), numeric[n]) for n in table.columns]
    rows = [
        [cells.text(n, v) for n, v in zip(table.columns, row, strict=True)] for row in table.rows
    ]
    csv_url = f"{export_url}&{urlencode({'format': 'csv', 'table': table.name})}"
    return TableView(table.name, label(cells.t, table.name), columns, rows, csv_url)


def _chart_data(cells: Cells, chart: Chart, table: Table, chart_id: str) -> dict[str, Any]:
    named = [chart.x, *([chart.y] if chart.y else []), *chart.series]
    at = [table.columns.index(name) for name in named]
    return {
        "id": chart_id,
        "kind": chart.kind.value,
        "title": words(cells.t, chart.title),
        "x": {"name": chart.x, "label": label(cells.t, chart.x), "unit": cells.unit(chart.x)},
        "y": {"name": chart.y, "label": label(cells.t, chart.y)} if chart.y else None,
        "series": [
            {"name": n, "label": label(cells.t, n), "unit": cells.unit(n)} for n in chart.series
        ],
        "rows": [[cells.number(named[k], row[i]) for k, i in enumerate(at)] for row in table.rows],
    }


def _sparks(cells: Cells, answer: Answer) -> dict[str, dict[str, Any]]:
    """Each sparkline's series on its own, by the figure it belongs to."""
    tables = {t.name: t for t in answer.result.tables}
    sparks: dict[str, dict[str, Any]] = {}
    for chart in answer.report.charts:
        table = tables.get(chart.table)
        if chart.kind is not ChartKind.sparkline or table is None:
            continue
        for name in chart.series:
            one = Chart(chart.kind, chart.table, chart.x, (name,), chart.title)
            sparks[name] = _chart_data(cells, one, table, f"spark-{name}")
    return sparks


def _cards(cells: Cells, answer: Answer, sparks: Mapping[str, Any]) -> list[Card]:
    summary = answer.result.summary
    previous = answer.previous.summary if answer.previous is not None else None
    changes = registry.change(summary, previous) if previous is not None else {}
    cards = []
    for name, value in summary.items():
        if not isinstance(value, int | float | Decimal | date) or isinstance(value, bool):
            continue
        relative = changes.get(name)
        cards.append(
            Card(
                name,
                label(cells.t, name),
                cells.text(name, value),
                cells.text(name, previous.get(name)) if previous is not None else None,
                _change_text(cells.t, relative) if previous is not None else None,
                "" if not relative else ("up" if relative > 0 else "down"),
                sparks[name]["id"] if name in sparks else None,
            )
        )
    shown = {card.name for card in cards}
    cards += [
        Card(name, label(cells.t, name), "", None, None, "", spark["id"])
        for name, spark in sparks.items()
        if name not in shown
    ]
    return cards


def _change_text(t: Translator, relative: float | None) -> str:
    if relative is None:
        return NOTHING
    arrow = "▲" if relative > 0 else "▼" if relative < 0 else ""
    return f"{arrow} {t.percent(abs(relative) * 100)}".strip()


def _data(
    t: Translator, charts: list[dict[str, Any]], sparks: list[dict[str, Any]]
) -> dict[str, Any]:
    words = {"equality": t("reports.chart.equality")}
    return {"lang": t.lang, "charts": charts, "sparks": sparks, "words": words}


def headline(answer: Answer, t: Translator) -> Figures:
    """The figures' cards with their sparklines only (the console home)."""
    cells = Cells(answer.report, t)
    sparks = _sparks(cells, answer)
    return Figures(_cards(cells, answer, sparks), [], [], _data(t, [], list(sparks.values())))


def figures(answer: Answer, t: Translator, export_url: str) -> Figures:
    """The figures' cards, a chart per declaration with its table under it, and the tables
    no chart draws."""
    cells = Cells(answer.report, t)
    sparks = _sparks(cells, answer)
    tables = {table.name: table for table in answer.result.tables}
    charts: list[ChartView] = []
    specs = []
    shown: set[str] = set()
    drawn = [c for c in answer.report.charts if c.kind is not ChartKind.sparkline]
    for n, chart in enumerate(drawn, 1):
        table = tables.get(chart.table)
        if table is None:
            continue
        chart_id = f"chart-{n}"
        specs.append(_chart_data(cells, chart, table, chart_id))
        under = None if table.name in shown else _table_view(cells, table, export_url)
        shown.add(table.name)
        charts.append(ChartView(chart_id, chart.kind.value, words(t, chart.title), under))
    rest = [_table_view(cells, tb, export_url) for tb in tables.values() if tb.name not in shown]
    data = _data(t, specs, list(sparks.values()))
    return Figures(_cards(cells, answer, sparks), charts, rest, data)


# --- the pages --------------------------------------------------------------------------------


@router.get("")
def index(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    """The reports the user may read."""
    require_console(actor, report_policy.VIEW)
    t = t_for(request)
    listed = [
        (r.name, words(t, r.title), words(t, r.description)) for r in registry.readable_by(actor)
    ]
    return render(request, "reports/index.html", reports=listed)


def _report(actor: Actor, name: str) -> Report:
    try:
        report = registry.get(name)
    except ReportNotFound as error:
        raise ErrorPage(404) from error
    require_console(actor, report.permission)
    return report


def _run(
    session: Session, actor: Actor, report: Report, choice: Choice, t: Translator
) -> tuple[Answer | None, FormErrors]:
    """The report's answer; none when it refuses the filters (one store's page asked for the
    chain), its refusal beside the filter it names."""
    try:
        return registry.run(session, actor, report, choice.query), choice.errors
    except InvalidInput as error:
        refusal = form_errors(error, t)
        fields = {FILTER_OF.get(k, k): v for k, v in refusal.fields.items()}
        return None, refused(choice.errors.fields | fields, t, status=200)


def _values(
    first: str, last: str, store: str, region: str, channel: str, compare: str
) -> dict[str, str]:
    return {
        "from": first,
        "to": last,
        "store": store,
        "region": region,
        "channel": channel,
        "compare": compare,
    }


def _query_string(values: dict[str, str]) -> str:
    return urlencode({k: v for k, v in values.items() if v})


From = Annotated[str, Query(alias="from")]
To = Annotated[str, Query(alias="to")]


@router.get("/{name}")
def report_page(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    name: str,
    first: From = "",
    last: To = "",
    store: str = "",
    region: str = "",
    channel: str = "",
    compare: str = "",
) -> HTMLResponse:
    """One report over the filters: figures, charts, tables and downloads."""
    report = _report(actor, name)
    t = t_for(request)
    choice = _choice(
        session, actor, report, _values(first, last, store, region, channel, compare), t
    )
    answer, errors = _run(session, actor, report, choice, t)
    filters = _query_string(choice.values)
    export_url = f"/console/reports/{report.name}/export?{filters}"
    regions = stores.regions_for_choice(session, actor) if "region" in report.filters else []
    compared = answer is not None and answer.previous is not None
    previous = choice.query.previous().period if compared else None
    return render(
        request,
        "reports/report.html",
        status=errors.status,
        report=report,
        title=words(t, report.title),
        description=words(t, report.description),
        values=choice.values,
        errors=errors,
        period=choice.query.period,
        previous=previous,
        store_options=store_options(session, actor) if "store" in report.filters else [],
        regions=regions,
        channels=[c.value for c in OrderChannel] if "channel" in report.filters else [],
        figures=figures(answer, t, export_url) if answer is not None else None,
        export_url=export_url,
    )


@router.get("/{name}/export")
def report_export(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    name: str,
    file_format: Annotated[str, Query(alias="format")] = "csv",
    table: str = "",
    first: From = "",
    last: To = "",
    store: str = "",
    region: str = "",
    channel: str = "",
    compare: str = "",
) -> Response:
    """The report as the API exports it (money in fen, shares 0–1): a table as CSV, or the
    summary and every table as an xlsx workbook."""
    report = _report(actor, name)
    fmt = parse_enum(export.Format, file_format)
    if fmt is None:
        raise ErrorPage(404)
    values = _values(first, last, store, region, channel, compare)
    choice = _choice(session, actor, report, values, t_for(request))
    try:
        answer = registry.run(session, actor, report, choice.query)
    except InvalidInput as error:  # the filters the report needs: its page says which
        raise ErrorPage(422) from error
    filename = registry.export_name(answer)
    if fmt is export.Format.xlsx:
        return export.download_workbook(filename, registry.export_sheets(answer))
    try:
        chosen = registry.export_table(answer, table or None)
    except InvalidInput as error:
        raise ErrorPage(404) from error
    return export.download(fmt, f"{filename}-{chosen.name}", chosen.columns, chosen.rows)


# --- the console home -------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    period: Period
    figures: Figures


def home_overview(session: Session, actor: Actor, t: Translator) -> Overview | None:
    """The overview report's figures of the last 30 days against the 30 before, with their
    sparklines, when the overview is declared and the user may read it."""
    report = registry.REPORTS.get(OVERVIEW)
    if report is None or not report.permission.allows(actor):
        return None
    query = report_query(session, actor, period_of(None, None), compare=report.comparable)
    answer = registry.run(session, actor, report, query)
    return Overview(query.period, headline(answer, t))
