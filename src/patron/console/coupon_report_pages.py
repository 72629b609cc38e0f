"""The coupon report: per template issued, redeemed, expired, void, the redemption rate, the
discount given and the sales of the redeeming orders, with CSV and Excel downloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from patron.console.choices import store_options
from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors, parse_enum, parse_id
from patron.console.i18n import Translator
from patron.console.points_forms import refused
from patron.console.web import ConsoleActorDep, ErrorPage, Tx, render, require_console, t_for
from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.coupons import permissions as coupon_permissions
from patron.coupons import reports

router = APIRouter(prefix="/coupons")


@dataclass(frozen=True)
class ReportRow:
    figures: reports.TemplateFigures
    rate: str  # redemption rate, "—" when nothing was issued


def _report_filters(
    values: dict[str, str], t: Translator
) -> tuple[reports.ReportFilter, FormErrors]:
    """The report's filters from the query; a date that is not one is named beside its input
    and not applied."""
    problems: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("issued_from", "issued_until"):
        start = day_start(values[name]) if values[name] else None
        if values[name] and start is None:
            problems[name] = t("reason.date")
        days[name] = start.date() if start else None
    filters = reports.ReportFilter(
        days["issued_from"], days["issued_until"], parse_id(values["store"])
    )
    return filters, refused(problems, t, status=200) if problems else NO_ERRORS


def _figures(
    request: Request, session: Session, actor: Actor, values: dict[str, str]
) -> tuple[list[reports.TemplateFigures], FormErrors]:
    t = t_for(request)
    filters, errors = _report_filters(values, t)
    try:
        return reports.template_report(session, actor, filters), errors
    except InvalidInput as error:  # dates reversed, a store outside the actor's
        refusal = form_errors(error, t)
        fields = {("store" if k == "store_id" else k): v for k, v in refusal.fields.items()}
        unfiltered = reports.ReportFilter()
        return reports.template_report(session, actor, unfiltered), refused(fields, t, 200)


@router.get("/report")
def report_page(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    issued_from: str = "",
    issued_until: str = "",
    store: str = "",
) -> HTMLResponse:
    """Per template: issued, redeemed, expired, void, the redemption rate, the discount given
    and the sales of the redeeming orders, over the coupons the filters select."""
    require_console(actor, coupon_permissions.VIEW_REPORT)
    t = t_for(request)
    values = {"issued_from": issued_from, "issued_until": issued_until, "store": store}
    figures, errors = _figures(request, session, actor, values)
    rows = [
        ReportRow(f, t.percent(f.redemption_rate * 100) if f.redemption_rate is not None else "—")
        for f in figures
    ]
    query = urlencode({k: v for k, v in values.items() if v})
    return render(
        request,
        "coupons/report.html",
        rows=rows,
        values=values,
        errors=errors,
        store_options=store_options(session, actor),
        export_query=query,
    )


@router.get("/report/export")
def report_export(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    file_format: Annotated[str, Query(alias="format")] = "csv",
    issued_from: str = "",
    issued_until: str = "",
    store: str = "",
) -> Response:
    """The report as the API gives it (reports.COLUMNS, money in fen), as CSV or .xlsx."""
    require_console(actor, coupon_permissions.VIEW_REPORT)
    fmt = parse_enum(export.Format, file_format)
    if fmt is None:
        raise ErrorPage(404)
    values = {"issued_from": issued_from, "issued_until": issued_until, "store": store}
    figures, _errors = _figures(request, session, actor, values)
    stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    return export.download(fmt, f"coupon-report-{stamp}", reports.COLUMNS, reports.rows(figures))
