"""Stored value (储值): the recharge packages HQ sells (充500送50), and the till's first step,
finding the member by a scanned member code or a mobile. The member's balance, statement,
recharge and spend are in member_stored_value_pages; the settlement report in
stored_value_report_pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.coupon_forms import read_fen
from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors
from patron.console.i18n import Translator
from patron.console.points_forms import read_int, refused, schema_errors, with_problems
from patron.console.stored_value_view import last_day, package_face
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
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.core.money import fen_to_yuan
from patron.members import visibility
from patron.members.errors import MemberCodeInvalid
from patron.members.schemas import normalize_mobile
from patron.stored_value import packages
from patron.stored_value import permissions as sv_policy
from patron.stored_value.errors import PackageNotFound
from patron.stored_value.models import PackageStatus, RechargePackage
from patron.stored_value.schemas import PackageIn

router = APIRouter()
SV_URL = f"{PREFIX}/stored-value"
PACKAGES_URL = f"{SV_URL}/packages"
TILL_URL = f"{SV_URL}/till"
PACKAGE_FIELDS = ("name", "pay", "bonus", "valid_from", "valid_until", "per_member_limit")
# A member code as the scanner types it: the member id in ten digits, then eight of the TOTP.
MEMBER_CODE_LENGTH = 18


def package_url(package_id: int) -> str:
    return f"{PACKAGES_URL}/{package_id}/edit"


def member_sv_url(member_id: int) -> str:
    return f"{PREFIX}/members/{member_id}/stored-value"


def sv_tabs(actor: Actor) -> dict[str, bool]:
    """Which stored-value screens the sub-navigation offers the actor."""
    return {"figures": sv_policy.VIEW_FIGURES.allows(actor)}


# --- packages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    package: RechargePackage
    face: str
    last_day: Any


@router.get("/stored-value/packages")
def package_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    """Every role sees the packages: the till sells them."""
    t = t_for(request)
    rows = [
        PackageRow(p, package_face(p, t), last_day(p.valid_until))
        for p in packages.list_packages(session)
    ]
    return render(
        request,
        "stored_value/packages.html",
        rows=rows,
        editable=sv_policy.EDIT_PACKAGES.allows(actor),
        tabs=sv_tabs(actor),
    )


@router.get("/stored-value/packages/new")
def package_new(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, sv_policy.EDIT_PACKAGES)
    values = {"bonus": "0", "status": PackageStatus.active.value}
    return _package_form(request, None, values, NO_ERRORS)


@router.post("/stored-value/packages/new")
def package_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, sv_policy.EDIT_PACKAGES)
    return _package_save(request, session, actor, None, form)


@router.get("/stored-value/packages/{package_id:int}/edit")
def package_edit(
    request: Request, package_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, sv_policy.EDIT_PACKAGES)
    package = _get_package(session, package_id)
    return _package_form(request, package, package_values(package), NO_ERRORS)


@router.post("/stored-value/packages/{package_id:int}/edit")
def package_update(
    request: Request, package_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, sv_policy.EDIT_PACKAGES)
    return _package_save(request, session, actor, _get_package(session, package_id), form)


@router.post("/stored-value/packages/{package_id:int}/status")
def package_status(
    request: Request, package_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Put a package on sale or take it off: recharges already made keep what they got."""
    require_console(actor, sv_policy.EDIT_PACKAGES)
    package = _get_package(session, package_id)
    try:
        status = PackageStatus(text(form, "status"))
    except ValueError as error:
        raise ErrorPage(400) from error
    packages.save_package(session, actor, {"status": status.value}, package.id)
    return redirect(PACKAGES_URL, f"flash.sv_package_{status.value}", package.name)


def _get_package(session: Session, package_id: int) -> RechargePackage:
    try:
        return packages.get_package(session, package_id)
    except PackageNotFound as error:
        raise ErrorPage(404) from error


def _day(value: Any) -> str:
    return value.astimezone(clock.business_tz()).date().isoformat() if value else ""


def package_values(package: RechargePackage) -> dict[str, str]:
    return {
        "name": package.name,
        "pay": fen_to_yuan(package.pay),
        "bonus": fen_to_yuan(package.bonus),
        "valid_from": _day(package.valid_from),
        "valid_until": _day(last_day(package.valid_until)),
        "per_member_limit": str(package.per_member_limit or ""),
        "status": package.status,
    }


def package_payload(
    values: Mapping[str, str], t: Translator
) -> tuple[dict[str, Any], dict[str, str]]:
    """What the package schema takes, from the form: yuan to fen, days to the whole of each
    day in business time (the last day included), and the problems of inputs that do not
    parse."""
    problems: dict[str, str] = {}
    payload: dict[str, Any] = {
        "name": values["name"],
        "pay": read_fen(values, "pay", problems, t),
        "bonus": read_fen(values, "bonus", problems, t) or 0,
        "per_member_limit": read_int(values, "per_member_limit", problems, t, required=False),
        "status": values["status"] or PackageStatus.active.value,
    }
    for name, shift in (("valid_from", 0), ("valid_until", 1)):
        raw = values[name]
        start = day_start(raw, shift) if raw else None
        if raw and start is None:
            problems[name] = t("reason.date")
        payload[name] = start
    return payload, problems


def _package_save(
    request: Request,
    session: Session,
    actor: Actor,
    package: RechargePackage | None,
    form: CheckedForm,
) -> Response:
    t = t_for(request)
    values = {name: text(form, name) for name in (*PACKAGE_FIELDS, "status")}
    payload, problems = package_payload(values, t)
    try:
        PackageIn.model_validate(payload)
    except ValidationError as error:
        errors = schema_errors(error, t, lambda item: (str(item["loc"][0]), None))
        return _package_form(request, package, values, with_problems(errors, problems, t))
    if problems:
        return _package_form(request, package, values, refused(problems, t))
    try:
        with attempt(session):
            saved = packages.save_package(session, actor, payload, package.id if package else None)
    except PatronError as error:
        return _package_form(request, package, values, form_errors(error, t))
    if package:
        return redirect(PACKAGES_URL, "flash.sv_package_saved", saved.name)
    return redirect(PACKAGES_URL, "flash.sv_package_created", saved.name)


def _package_form(
    request: Request,
    package: RechargePackage | None,
    values: Mapping[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "stored_value/package_form.html",
        status=errors.status,
        package=package,
        values=values,
        errors=errors,
        statuses=list(PackageStatus),
    )


# --- the till: find the member ----------------------------------------------------------------


@router.get("/stored-value/till")
def till(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    return _till(request, actor, "", NO_ERRORS)


@router.post("/stored-value/till")
def till_lookup(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """The member a scanned member code or a typed mobile names: their stored-value page. The
    lookup is audited and lets a store read the member for a day, as the API's lookup does."""
    t = t_for(request)
    typed = text(form, "member")
    try:
        member = find_member(session, actor, typed)
    except ValueError:
        member = None
    if member is None:
        errors = refused({"member": t("sv.till.not_found")}, t, status=404)
        return _till(request, actor, typed, errors)
    return redirect(member_sv_url(member.id))


def find_member(session: Session, actor: Actor, typed: str) -> Any:
    """By member code (18 digits, as a scanner types it) or by mobile; None if nobody active.
    ValueError when the input is neither."""
    typed = typed.strip()
    if len(typed) == MEMBER_CODE_LENGTH and typed.isascii() and typed.isdigit():
        try:
            return visibility.look_up(session, actor, visibility.LookupKind.member_code, typed)
        except MemberCodeInvalid:
            return None
    mobile = normalize_mobile(typed)
    return visibility.look_up(session, actor, visibility.LookupKind.mobile, mobile)


def _till(request: Request, actor: Actor, typed: str, errors: FormErrors) -> HTMLResponse:
    return render(
        request,
        "stored_value/till.html",
        status=errors.status,
        values={"member": typed},
        errors=errors,
        tabs=sv_tabs(actor),
    )
