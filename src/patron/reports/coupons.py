"""Coupons: per template, the coupons issued in the period (at the query's stores: issued or
redeemed there) and what became of them, from the coupons' own template report, and their
totals. Coupons have no order channel."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.export import Cell
from patron.coupons import reports as coupons
from patron.coupons.permissions import VIEW_REPORT
from patron.reports import figures
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

COLUMNS = (
    "template_id",
    "name",
    "type",
    "issued",
    "redeemed",
    "redemption_rate",
    "discount",
    "redeeming_sales",
)


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    issued_in = coupons.ReportFilter(query.period.first, query.period.last)
    templates = [
        t
        for t in coupons.template_report(session, figures.scoped(actor, query), issued_in)
        if t.issued
    ]
    rows: list[tuple[Cell, ...]] = [
        (
            t.template_id,
            t.name,
            t.type,
            t.issued,
            t.redeemed,
            t.redemption_rate,
            t.discount_given,
            t.redeeming_sales,
        )
        for t in templates
    ]
    issued = sum(t.issued for t in templates)
    redeemed = sum(t.redeemed for t in templates)
    return Result(
        {
            "issued": issued,
            "redeemed": redeemed,
            "redemption_rate": figures.share(redeemed, issued),
            "discount": sum(t.discount_given for t in templates),
            "redeeming_sales": sum(t.redeeming_sales for t in templates),
        },
        [Table("templates", COLUMNS, rows)],
    )


register(
    Report(
        "coupons",
        "reports.coupons.title",
        build,
        charts=(
            Chart(
                ChartKind.bar,
                "templates",
                "name",
                ("issued", "redeemed"),
                "reports.coupons.chart.templates",
            ),
        ),
        permission=VIEW_REPORT,
        description="reports.coupons.description",
    )
)
