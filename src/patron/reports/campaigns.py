"""Campaigns: those launched in the period, each with its uplift over its attribution window
(the campaigns' own report: treated against held-out control members). A campaign draws its
audience chain-wide, so the report takes neither stores nor a channel, and only HQ reads it."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from patron.campaigns import report as campaigns
from patron.campaigns.permissions import VIEW
from patron.core import clock
from patron.core.actor import Actor
from patron.core.export import Cell
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

COLUMNS = (
    "campaign_id",
    "name",
    "status",
    "launched_at",
    "complete",
    "treated_members",
    "control_members",
    "treated_conversion",
    "control_conversion",
    "uplift",
    "uplift_ci_low",
    "uplift_ci_high",
    "incremental_revenue",
)


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    tz = clock.business_tz()
    start = datetime.combine(query.period.first, time(), tz)
    end = datetime.combine(query.period.last + timedelta(days=1), time(), tz)
    launched = campaigns.launched_between(session, actor, start, end)
    rows = [_row(r) for r in launched]
    return Result(
        {
            "campaigns": len(launched),
            "treated_members": sum(r.treated.members for r in launched),
            "control_members": sum(r.control.members for r in launched),
            "incremental_revenue": sum(r.uplift.incremental_revenue or 0 for r in launched),
        },
        [Table("campaigns", COLUMNS, rows)],
    )


def _row(report: campaigns.CampaignReport) -> tuple[Cell, ...]:
    conversion = report.uplift.conversion
    low, high = conversion.absolute_ci or (None, None)
    launched = report.window_start.astimezone(clock.business_tz()) if report.window_start else None
    return (
        report.campaign_id,
        report.name,
        report.status,
        launched,
        report.complete,
        report.treated.members,
        report.control.members,
        campaigns.rounded(conversion.treated),
        campaigns.rounded(conversion.control),
        campaigns.rounded(conversion.absolute),
        campaigns.rounded(low),
        campaigns.rounded(high),
        report.uplift.incremental_revenue,
    )


register(
    Report(
        "campaigns",
        "reports.campaigns.title",
        build,
        charts=(
            Chart(
                ChartKind.bar,
                "campaigns",
                "name",
                ("uplift",),
                "reports.campaigns.chart.uplift",
            ),
        ),
        permission=VIEW,
        description="reports.campaigns.description",
        filters=frozenset(),
    )
)
