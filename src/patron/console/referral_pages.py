"""Referral (推荐有礼) for HQ: the program's settings and the report of a period's invitations,
with CSV and Excel downloads."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors, parse_enum
from patron.console.message_ids import N_
from patron.console.web import (
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
from patron.core.errors import PatronError
from patron.coupons import templates
from patron.coupons.models import TemplateStatus
from patron.referrals import permissions, report, service
from patron.referrals.models import ReferralProgram
from patron.referrals.schemas import ProgramIn

router = APIRouter(prefix="/referrals")
URL = "/console/referrals"
NUMBERS = ("referrer_points", "invitee_points", "monthly_cap", "reversal_days")
TEMPLATES = ("referrer_coupon_template_id", "invitee_coupon_template_id")
# Ids the page builds from a value: the figures, the coupon fields, the reasons a referral is
# rejected, and the refusals the referral services answer with.
BUILT_IDS = (
    N_("referrals.figure.invites"),
    N_("referrals.figure.rewarded"),
    N_("referrals.figure.pending"),
    N_("referrals.figure.rejected"),
    N_("referrals.figure.reversed"),
    N_("referrals.referrer_coupon_template_id"),
    N_("referrals.invitee_coupon_template_id"),
    N_("error.unknown_invite_code"),
    N_("error.own_invite_code"),
    N_("error.already_referred"),
    N_("error.referral_window_over"),
    N_("error.referral_program_off"),
    N_("referrals.reason.same_device"),
    N_("referrals.reason.same_payment"),
    N_("referrals.reason.monthly_cap"),
    N_("referrals.reason.order_refunded"),
    N_("referrals.reason.referrer_inactive"),
    N_("referrals.reason.invitee_inactive"),
    N_("referrals.reason.merged_into_referrer"),
    N_("referrals.reason.merged_duplicate"),
    N_("referrals.reason.other"),
)


def _period(first: str, last: str) -> tuple[date, date]:
    """The report's days from the query; this month so far when not given or not dates."""
    today = clock.today()
    start, end = day_start(first), day_start(last)
    first_day = start.date() if start else today.replace(day=1)
    last_day = end.date() if end else today
    return (first_day, last_day) if first_day <= last_day else (last_day, first_day)


def _values(program: ReferralProgram) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(getattr(program, name)) for name in NUMBERS}
    values |= {name: str(getattr(program, name) or "") for name in TEMPLATES}
    values["enabled"] = program.enabled
    return values


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    values: dict[str, Any],
    errors: FormErrors,
    first: date,
    last: date,
) -> HTMLResponse:
    found = report.report(session, actor, first, last)
    options = templates.list_templates(session, TemplateStatus.active, None, 200).items
    return render(
        request,
        "referrals/index.html",
        status=errors.status,
        section="referrals",
        values=values,
        errors=errors,
        found=found,
        first=first.isoformat(),
        last=last.isoformat(),
        template_options=options,
        program=service.read_program(session),
        editable=permissions.EDIT_PROGRAM.allows(actor),
    )


@router.get("")
def referrals_page(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    first: Annotated[str, Query(alias="from")] = "",
    last: Annotated[str, Query(alias="to")] = "",
) -> HTMLResponse:
    """The program's settings beside the report of the period (this month by default)."""
    require_console(actor, permissions.VIEW)
    start, end = _period(first, last)
    program = service.read_program(session)
    return _page(request, session, actor, _values(program), NO_ERRORS, start, end)


@router.post("/program")
def program_save(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, permissions.EDIT_PROGRAM)
    t = t_for(request)
    values: dict[str, Any] = {name: text(form, name) for name in (*NUMBERS, *TEMPLATES)}
    values["enabled"] = form.get("enabled") == "on"
    data: dict[str, Any] = {"enabled": values["enabled"]}
    data |= {name: _number(values[name]) for name in NUMBERS}
    data |= {name: _number(values[name]) if values[name] else None for name in TEMPLATES}
    start, end = _period("", "")
    try:
        program = ProgramIn.model_validate(data)
    except ValidationError as error:
        return _page(request, session, actor, values, form_errors(error, t), start, end)
    try:
        with attempt(session):
            service.update_program(session, actor, program.model_dump())
    except PatronError as error:
        return _page(request, session, actor, values, form_errors(error, t), start, end)
    return redirect(URL, "flash.referral_program_saved")


def _number(value: str) -> int | str:
    """A whole number as typed, or the text itself for the schema to refuse."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else value


@router.get("/export")
def report_export(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    file_format: Annotated[str, Query(alias="format")] = "csv",
    first: Annotated[str, Query(alias="from")] = "",
    last: Annotated[str, Query(alias="to")] = "",
) -> Response:
    """The report as the API gives it, as CSV or .xlsx."""
    require_console(actor, permissions.VIEW)
    fmt = parse_enum(export.Format, file_format)
    if fmt is None:
        raise ErrorPage(404)
    start, end = _period(first, last)
    found = report.report(session, actor, start, end)
    name = f"referrals-{start:%Y%m%d}-{end:%Y%m%d}"
    return export.download(fmt, name, report.COLUMNS, report.rows(found))
