"""Staff users: list with filters, create, edit (role, stores, active) and password reset."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.console.choices import store_options
from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_enum, parse_id
from patron.console.permissions import assignable_roles, can_edit_staff
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock
from patron.core.actor import STAFF_ROLES, Actor, Role
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.staff import permissions as staff_policy
from patron.staff import service as staff
from patron.staff.models import StaffUser
from patron.staff.schemas import StaffCreate, StaffUpdate
from patron.stores import regions
from patron.stores import service as stores
from patron.stores.models import Region, Store

router = APIRouter(prefix="/staff")
PAGE_SIZE = 20
LIST_URL = f"{PREFIX}/staff"


@router.get("")
def staff_list(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    role: str = "",
    store: str = "",
    cursor: str = "",
) -> HTMLResponse:
    require_console(actor, staff_policy.MANAGE)
    role_filter = parse_enum(Role, role)
    store_id = parse_id(store)
    with error_page_on(InvalidInput):
        page = staff.list_staff(
            session, actor, cursor or None, PAGE_SIZE, role=role_filter, store_id=store_id
        )
    return render(
        request,
        "staff/list.html",
        users=page.items,
        codes=stores.codes_by_id(session, {i for user in page.items for i in user.store_ids}),
        region_names={r.id: r.name for r in _region_options(session, actor)},
        editable={user.id for user in page.items if can_edit_staff(actor, user)},
        filters={"role": role, "store": store},
        roles=STAFF_ROLES,
        store_options=store_options(session, actor),
        now=clock.now(),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.get("/new")
def staff_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, staff_policy.MANAGE)
    options = store_options(session, actor)
    values: dict[str, Any] = {"role": Role.cashier.value, "all_stores": False, "store_ids": []}
    if len(options) == 1 and not actor.all_stores:
        values["store_ids"] = [str(options[0].id)]
    return _new_form(request, session, actor, options, values, NO_ERRORS)


@router.post("/new")
def staff_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, staff_policy.MANAGE)
    values = {"username": text(form, "username"), **_scope_values(form)}
    password = text(form, "password", strip=False)
    try:
        data = StaffCreate.model_validate(values | {"password": password})
        with attempt(session):
            user = staff.create_staff(session, actor, data)
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        return _new_form(request, session, actor, store_options(session, actor), values, errors)
    return redirect(LIST_URL, "flash.staff_created", name=user.username)


@router.get("/{staff_id:int}/edit")
def staff_edit(
    request: Request, staff_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, staff_policy.MANAGE)
    user = _get_editable(session, actor, staff_id)
    return _edit_form(request, session, actor, user)


@router.post("/{staff_id:int}/edit")
def staff_update(
    request: Request, staff_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, staff_policy.MANAGE)
    user = _get_editable(session, actor, staff_id)
    values = _scope_values(form) | {"is_active": form.get("is_active") == "on"}
    try:
        data = StaffUpdate.model_validate(values)
        with attempt(session):
            staff.update_staff(session, actor, staff_id, data)
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        return _edit_form(request, session, actor, user, values, errors=errors)
    return redirect(LIST_URL, "flash.staff_updated", name=user.username)


@router.post("/{staff_id:int}/password")
def staff_password(
    request: Request, staff_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, staff_policy.MANAGE)
    user = _get_editable(session, actor, staff_id)
    t = t_for(request)
    password = text(form, "password", strip=False)
    if password != text(form, "password_confirm", strip=False):
        mismatch = {"password_confirm": t("error.passwords_differ")}
        errors = FormErrors(message=t("error.form"), fields=mismatch, status=422)
        return _edit_form(request, session, actor, user, password_errors=errors)
    try:
        data = StaffUpdate.model_validate({"password": password})
        with attempt(session):
            staff.update_staff(session, actor, staff_id, data)
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t)
        return _edit_form(request, session, actor, user, password_errors=errors)
    return redirect(f"{LIST_URL}/{staff_id}/edit", "flash.password_reset", name=user.username)


def _scope_values(form: FormData) -> dict[str, Any]:
    all_stores = form.get("all_stores") == "on"
    ticked = [value for value in form.getlist("store_ids") if isinstance(value, str)]
    regions_ticked = [value for value in form.getlist("region_ids") if isinstance(value, str)]
    return {
        "display_name": text(form, "display_name"),
        "role": text(form, "role"),
        "all_stores": all_stores,
        # "All stores" wins over stores left ticked below it, as the form's hint says.
        "store_ids": [] if all_stores else ticked,
        "region_ids": regions_ticked,
    }


def _values_of(user: StaffUser) -> dict[str, Any]:
    return {
        "display_name": user.display_name,
        "role": user.role,
        "all_stores": user.all_stores,
        "store_ids": [str(i) for i in user.store_ids],
        "region_ids": [str(i) for i in user.region_ids],
        "is_active": user.is_active,
    }


def _get_editable(session: Session, actor: Actor, staff_id: int) -> StaffUser:
    with error_page_on(NotFound):
        user = staff.get_staff(session, actor, staff_id)
    if not can_edit_staff(actor, user):
        raise ErrorPage(403, "error.forbidden")
    return user


def _region_options(session: Session, actor: Actor) -> list[Region]:
    """The regions a regional manager may be given: by those who may give any scope."""
    return regions.list_regions(session, actor) if staff_policy.MANAGE_ANY.allows(actor) else []


def _new_form(
    request: Request,
    session: Session,
    actor: Actor,
    options: list[Store],
    values: dict[str, Any],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "staff/new.html",
        status=errors.status,
        values=values,
        errors=errors,
        roles=assignable_roles(actor),
        store_options=options,
        region_options=_region_options(session, actor),
    )


def _edit_form(
    request: Request,
    session: Session,
    actor: Actor,
    user: StaffUser,
    values: dict[str, Any] | None = None,
    errors: FormErrors = NO_ERRORS,
    password_errors: FormErrors = NO_ERRORS,
) -> HTMLResponse:
    return render(
        request,
        "staff/edit.html",
        status=max(errors.status, password_errors.status),
        user=user,
        values=values or _values_of(user),
        errors=errors,
        password_errors=password_errors,
        roles=assignable_roles(actor),
        store_options=store_options(session, actor),
        region_options=_region_options(session, actor),
        now=clock.now(),
    )
