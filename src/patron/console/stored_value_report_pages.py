"""Stored-value figures: the cross-store settlement (跨店结算) over a period, a row per store with
a drill-down to the movements behind it, and the liability members hold by store of recharge;
both downloadable as the API gives them (CSV, .xlsx)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors, parse_enum, parse_id
from patron.console.i18n import Translator
from patron.console.points_forms import refused
from patron.console.stored_value_pages import sv_tabs
from patron.console.stored_value_view import kind_label
from patron.console.web import ConsoleActorDep, ErrorPage, Tx, render, require_console, t_for
from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.orders import service as orders_service
from patron.stored_value import permissions as sv_policy
from patron.stored_value import reports
from patron.stored_value.models import StoredValueEntry

router = APIRouter(prefix="/stored-value")
HQ = "hq"


@dataclass(frozen=True)
class Choice:
    """The period and the store the page was asked for, as typed, and what they mean."""

    values: dict[str, str]
    period: reports.Period
    store: reports.StoreRef | None
    errors: FormErrors


def _choice(values: dict[str, str], t: Translator) -> Choice:
    """This month so far unless the query names days; a day that is not one is named beside
    its input and not applied."""
    today = clock.today()
    problems: dict[str, str] = {}
    days: dict[str, date] = {}
    for name, default in (("from", today.replace(day=1)), ("to", today)):
        start = day_start(values[name]) if values[name] else None
        if values[name] and start is None:
            problems[name] = t("reason.date")
        days[name] = start.date() if start else default
    store = None
    if values["store"]:
        store_id = None if values["store"] == HQ else parse_id(values["store"])
        if values["store"] != HQ and store_id is None:
            raise ErrorPage(404)
        store = reports.StoreRef(store_id)
    errors = refused(problems, t, status=200) if problems else NO_ERRORS
    filled = {**values, "from": days["from"].isoformat(), "to": days["to"].isoformat()}
    return Choice(filled, reports.Period(days["from"], days["to"]), store, errors)


def _settlement(
    session: Session, actor: Actor, choice: Choice, t: Translator
) -> tuple[reports.Settlement, FormErrors]:
    try:
        return reports.settlement(session, actor, choice.period, choice.store), choice.errors
    except InvalidInput as error:  # days reversed, a store outside the actor's
        if any(e.get("field") == "store_id" for e in error.extra.get("errors", [])):
            raise ErrorPage(404) from error
        return reports.Settlement(choice.period, [], reports.Figures()), form_errors(error, t)


@dataclass(frozen=True)
class MovementRow:
    entry: StoredValueEntry
    kind: str
    order_label: str | None
    order_url: str | None


@router.get("/settlement")
def settlement_page(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    first: Annotated[str, Query(alias="from")] = "",
    last: Annotated[str, Query(alias="to")] = "",
    store: str = "",
) -> HTMLResponse:
    """A row per store: principal recharged, refunded, spent, adjusted and the net the store
    owes HQ; a store's row opens the movements behind it."""
    require_console(actor, sv_policy.VIEW_FIGURES)
    t = t_for(request)
    choice = _choice({"from": first, "to": last, "store": store}, t)
    report, errors = _settlement(session, actor, choice, t)
    entries = report.entries or []
    numbers = orders_service.order_numbers(session, (e.order_id for e in entries))
    movements = [
        MovementRow(
            e,
            kind_label(e.kind, t),
            numbers.get(e.order_id, f"#{e.order_id}") if e.order_id else None,
            f"/console/orders/{e.order_id}"
            if e.order_id and actor.sees_store(e.store_id)
            else None,
        )
        for e in entries
    ]
    period = {"from": choice.values["from"], "to": choice.values["to"]}
    return render(
        request,
        "stored_value/settlement.html",
        status=errors.status,
        report=report,
        values=choice.values,
        errors=errors,
        drilled=choice.store is not None,
        drilled_row=report.rows[0] if choice.store is not None and report.rows else None,
        movements=movements,
        period_query=urlencode(period),
        export_query=urlencode({**period, **({"store": store} if store else {})}),
        tabs=sv_tabs(actor),
    )


@router.get("/settlement/export")
def settlement_export(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    file_format: Annotated[str, Query(alias="format")] = "csv",
    first: Annotated[str, Query(alias="from")] = "",
    last: Annotated[str, Query(alias="to")] = "",
    store: str = "",
) -> Response:
    """The settlement (or one store's movements) in the API's columns, money in fen."""
    require_console(actor, sv_policy.VIEW_FIGURES)
    fmt = parse_enum(export.Format, file_format)
    if fmt is None:
        raise ErrorPage(404)
    t = t_for(request)
    choice = _choice({"from": first, "to": last, "store": store}, t)
    report, _errors = _settlement(session, actor, choice, t)
    p = choice.period
    name = f"stored-value-settlement-{p.first:%Y%m%d}-{p.last:%Y%m%d}"
    if report.entries is not None:
        rows = reports.entry_rows(report.entries)
        return export.download(fmt, f"{name}-{store}", reports.ENTRY_COLUMNS, rows)
    return export.download(fmt, name, reports.SETTLEMENT_COLUMNS, reports.settlement_rows(report))


@router.get("/liability")
def liability_page(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    """Principal and bonus members hold now, by the store of the recharges it remains of."""
    require_console(actor, sv_policy.VIEW_FIGURES)
    return render(
        request,
        "stored_value/liability.html",
        report=reports.liability(session, actor),
        tabs=sv_tabs(actor),
    )


@router.get("/liability/export")
def liability_export(
    session: Tx, actor: ConsoleActorDep, file_format: Annotated[str, Query(alias="format")] = "csv"
) -> Response:
    require_console(actor, sv_policy.VIEW_FIGURES)
    fmt = parse_enum(export.Format, file_format)
    if fmt is None:
        raise ErrorPage(404)
    stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    rows = reports.liability_rows(reports.liability(session, actor))
    return export.download(fmt, f"stored-value-liability-{stamp}", reports.LIABILITY_COLUMNS, rows)
