"""Daily check-in (签到) in the console: the program's settings (HQ edits, staff read) and the
report (check-ins and points per day, distinct members, the streak's days), downloadable as
the API gives it (CSV, .xlsx)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from patron.check_ins import permissions, program, reports
from patron.check_ins.schemas import ProgramIn
from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors, parse_enum
from patron.console.i18n import Translator
from patron.console.message_ids import N_
from patron.console.points_forms import read_int, refused
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, PatronError

router = APIRouter(prefix="/check-ins")
SETTINGS_URL = f"{PREFIX}/check-ins"
REPORT_URL = f"{PREFIX}/check-ins/report"
# "3:10, 7:50": 10 extra points on the streak's 3rd day, 50 on its 7th.
BONUS_SPEC = re.compile(r"^(\d{1,2})\s*[:：=]\s*(\d{1,6})$")
CYCLES = tuple(str(c) for c in program.CYCLES)
REPORT_DAYS = 30

BUILT_IDS = (
    N_("check_ins.cycle.7"),
    N_("check_ins.cycle.30"),
    N_("error.bonus_day_outside_cycle"),
    N_("error.check_in_closed"),
    N_("error.already_checked_in"),
)


def tabs(actor: Actor) -> dict[str, bool]:
    return {
        "settings": permissions.VIEW_PROGRAM.allows(actor),
        "report": permissions.VIEW_REPORT.allows(actor),
    }


def bonus_text(bonuses: Mapping[str, int]) -> str:
    return ", ".join(f"{day}:{points}" for day, points in bonuses.items())


def parse_bonuses(value: str) -> dict[str, int] | None:
    """'3:10, 7:50' (full-width colons and commas too) as {"3": 10, "7": 50}; None if it is
    not that."""
    found: dict[str, int] = {}
    for part in re.split(r"[,，;；\s]+(?=\d)", value.strip()):
        if not part.strip():
            continue
        match = BONUS_SPEC.fullmatch(part.strip().rstrip(",，;；"))
        if match is None:
            return None
        found[str(int(match[1]))] = int(match[2])
    return found


def _values(found: program.Program) -> dict[str, str]:
    return {
        "enabled": "on" if found.enabled else "",
        "points_per_day": str(found.points_per_day),
        "cycle_days": str(found.cycle_days),
        "bonuses": bonus_text(found.streak_bonuses),
    }


@router.get("")
def settings_page(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.VIEW_PROGRAM)
    return _form(request, actor, _values(program.program(session)), NO_ERRORS)


@router.post("")
def settings_save(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, permissions.EDIT_PROGRAM)
    t = t_for(request)
    values = {name: text(form, name) for name in ("enabled", "points_per_day", "cycle_days")}
    values["bonuses"] = text(form, "bonuses")
    problems: dict[str, str] = {}
    per_day = read_int(values, "points_per_day", problems, t)
    bonuses = parse_bonuses(values["bonuses"])
    if bonuses is None:
        problems["bonuses"] = t("check_ins.settings.bonuses_format")
    cycle = int(values["cycle_days"]) if values["cycle_days"] in CYCLES else None
    if cycle is None:
        problems["cycle_days"] = t("error.not_a_choice")
    if problems:
        return _form(request, actor, values, refused(problems, t))
    payload = {
        "enabled": bool(values["enabled"]),
        "points_per_day": per_day,
        "cycle_days": cycle,
        "streak_bonuses": bonuses,
    }
    try:
        data = ProgramIn.model_validate(payload)
        with attempt(session):
            program.save_program(session, actor, data.values())
    except (ValidationError, PatronError) as error:
        return _form(request, actor, values, _on_fields(form_errors(error, t)))
    return redirect(SETTINGS_URL, "flash.check_in_program_saved")


def _on_fields(errors: FormErrors) -> FormErrors:
    """A refusal of a bonus day (`streak_bonuses.8`) beside the bonuses' input."""
    fields = {
        ("bonuses" if name.startswith("streak_bonuses") else name): message
        for name, message in errors.fields.items()
    }
    return FormErrors(errors.message, errors.detail, fields, errors.status)


def _form(
    request: Request, actor: Actor, values: Mapping[str, str], errors: FormErrors
) -> HTMLResponse:
    return render(
        request,
        "check_ins/settings.html",
        status=errors.status,
        values=values,
        errors=errors,
        editable=permissions.EDIT_PROGRAM.allows(actor),
        cycles=CYCLES,
        tabs=tabs(actor),
        tab="settings",
    )


# --- the report -------------------------------------------------------------------------------


def _period(first: str, last: str, t: Translator) -> tuple[date, date, dict[str, str]]:
    """The last 30 business days unless the query names days; a day that is not one is named
    beside its input and not applied."""
    today = clock.today()
    problems: dict[str, str] = {}
    days: dict[str, date] = {}
    for name, value, default in (
        ("from", first, today - timedelta(days=REPORT_DAYS - 1)),
        ("to", last, today),
    ):
        start = day_start(value) if value else None
        if value and start is None:
            problems[name] = t("reason.date")
        days[name] = start.date() if start else default
    return days["from"], days["to"], problems


@router.get("/report")
def report_page(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    first: Annotated[str, Query(alias="from")] = "",
    last: Annotated[str, Query(alias="to")] = "",
) -> HTMLResponse:
    require_console(actor, permissions.VIEW_REPORT)
    t = t_for(request)
    start, end, problems = _period(first, last, t)
    errors = refused(problems, t, status=200) if problems else NO_ERRORS
    try:
        found = reports.report(session, actor, start, end)
    except InvalidInput as error:
        errors = form_errors(error, t)
        found = reports.Report(start, end, [], 0, 0, 0, [])
    period = {"from": start.isoformat(), "to": end.isoformat()}
    top = max((s.check_ins for s in found.streaks), default=0)
    return render(
        request,
        "check_ins/report.html",
        status=errors.status,
        report=found,
        values=period,
        errors=errors,
        export_query=urlencode(period),
        top=top,
        tabs=tabs(actor),
        tab="report",
    )


@router.get("/report/export")
def report_export(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    file_format: Annotated[str, Query(alias="format")] = "csv",
    table: str = "days",
    first: Annotated[str, Query(alias="from")] = "",
    last: Annotated[str, Query(alias="to")] = "",
) -> Response:
    """The report's rows in the API's columns (the page's period: the last 30 days unless the
    query names days)."""
    require_console(actor, permissions.VIEW_REPORT)
    fmt = parse_enum(export.Format, file_format)
    kind = parse_enum(reports.Table, table)
    start, end, problems = _period(first, last, t_for(request))
    if fmt is None or kind is None or problems:
        raise ErrorPage(404)
    try:
        found = reports.report(session, actor, start, end)
    except InvalidInput as error:
        raise ErrorPage(404) from error
    name = f"check-ins-{kind.value}-{start:%Y%m%d}-{end:%Y%m%d}"
    if kind is reports.Table.streaks:
        return export.download(fmt, name, reports.STREAK_COLUMNS, reports.streak_rows(found))
    return export.download(fmt, name, reports.DAY_COLUMNS, reports.day_rows(found))
