"""Stores: list with filters, create, edit, close and reopen."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_enum
from patron.console.permissions import STORE_FIELDS, editable_store_fields
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
    safe_next,
    t_for,
    text,
)
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.stores import permissions as store_policy
from patron.stores import service as stores
from patron.stores.models import Store, StoreStatus, StoreType
from patron.stores.schemas import StoreCreate, StoreUpdate

router = APIRouter(prefix="/stores")
PAGE_SIZE = 20
LIST_URL = f"{PREFIX}/stores"


@router.get("")
def store_list(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    q: str = "",
    status: str = "",
    store_type: Annotated[str, Query(alias="type")] = "",
    cursor: str = "",
) -> HTMLResponse:
    filters = stores.StoreFilter(
        status=parse_enum(StoreStatus, status),
        type=parse_enum(StoreType, store_type),
        q=q.strip()[:100] or None,
    )
    with error_page_on(InvalidInput):
        page = stores.list_stores(session, actor, filters, cursor or None, PAGE_SIZE)
    return render(
        request,
        "stores/list.html",
        stores=page.items,
        filters={"q": q, "status": status, "type": store_type},
        statuses=list(StoreStatus),
        types=list(StoreType),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.get("/new")
def store_new(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, store_policy.CREATE)
    return _form(request, actor, None, {"type": StoreType.owned.value}, NO_ERRORS)


@router.post("/new")
def store_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, store_policy.CREATE)
    values = {name: text(form, name) for name in ("code", *STORE_FIELDS)}
    try:
        data = StoreCreate.model_validate(values)
        with attempt(session):
            store = stores.create_store(session, actor, data)
    except (ValidationError, PatronError) as error:
        return _form(request, actor, None, values, form_errors(error, t_for(request)))
    return redirect(LIST_URL, "flash.store_created", name=store.name)


@router.get("/{store_id:int}/edit")
def store_edit(
    request: Request, store_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, store_policy.EDIT)
    store = _get(session, actor, store_id)
    return _form(request, actor, store, stores.snapshot(store), NO_ERRORS)


@router.post("/{store_id:int}/edit")
def store_update(
    request: Request, store_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, store_policy.EDIT)
    store = _get(session, actor, store_id)
    values = {name: text(form, name) for name in editable_store_fields(actor)}
    try:
        data = StoreUpdate.model_validate(values)
        with attempt(session):
            stores.update_store(session, actor, store_id, data)
    except (ValidationError, PatronError) as error:
        shown = stores.snapshot(store) | values
        return _form(request, actor, store, shown, form_errors(error, t_for(request)))
    return redirect(LIST_URL, "flash.store_updated", name=store.name)


@router.post("/{store_id:int}/status")
def store_status(store_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> Response:
    require_console(actor, store_policy.EDIT_ALL_FIELDS)
    status = parse_enum(StoreStatus, text(form, "status"))
    if status is None:
        raise ErrorPage(400)
    with error_page_on(PatronError):
        store = stores.update_store(session, actor, store_id, StoreUpdate(status=status))
    flash = "flash.store_closed" if status is StoreStatus.closed else "flash.store_reopened"
    return redirect(safe_next(form.get("next")), flash, name=store.name)


def _get(session: Session, actor: Actor, store_id: int) -> Store:
    with error_page_on(NotFound):
        store = stores.get_store(session, actor, store_id)
    return store


def _form(
    request: Request,
    actor: Actor,
    store: Store | None,
    values: Mapping[str, object],
    errors: FormErrors,
) -> HTMLResponse:
    editable = editable_store_fields(actor) if store else ("code", *STORE_FIELDS)
    return render(
        request,
        "stores/form.html",
        status=errors.status,
        store=store,
        values=values,
        errors=errors,
        editable=editable,
        types=list(StoreType),
    )
