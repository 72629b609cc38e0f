"""Regions (区域), under the stores menu: the list with each region's stores; HQ admins create
a region and edit its name, code and stores."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.console.choices import store_options
from patron.console.forms import NO_ERRORS, FormErrors, form_errors
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    Tx,
    attempt,
    error_page_on,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core.actor import Actor
from patron.core.errors import NotFound, PatronError
from patron.stores import permissions as store_policy
from patron.stores import regions
from patron.stores.models import Region
from patron.stores.schemas import RegionCreate, RegionStores, RegionUpdate

router = APIRouter(prefix="/regions")
LIST_URL = f"{PREFIX}/regions"


@router.get("")
def region_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, store_policy.VIEW_REGIONS)
    found = regions.list_regions(session, actor)
    return render(
        request,
        "stores/regions.html",
        regions=found,
        stores={store.id: store for store in store_options(session, actor)},
    )


@router.get("/new")
def region_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, store_policy.MANAGE_REGIONS)
    return _form(request, session, actor, None, {"store_ids": []}, NO_ERRORS)


@router.post("/new")
def region_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, store_policy.MANAGE_REGIONS)
    values = _values(form)
    try:
        data = RegionCreate.model_validate(values)
        with attempt(session):
            region = regions.create_region(session, actor, data)
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        return _form(request, session, actor, None, values, errors)
    return redirect(LIST_URL, "flash.region_created", name=region.name)


@router.get("/{region_id:int}/edit")
def region_edit(
    request: Request, region_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, store_policy.MANAGE_REGIONS)
    region = _get(session, actor, region_id)
    values = regions.snapshot(region) | {"store_ids": [str(i) for i in region.store_ids]}
    return _form(request, session, actor, region, values, NO_ERRORS)


@router.post("/{region_id:int}/edit")
def region_update(
    request: Request, region_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, store_policy.MANAGE_REGIONS)
    region = _get(session, actor, region_id)
    values = _values(form)
    try:
        data = RegionUpdate.model_validate({"code": values["code"], "name": values["name"]})
        stores = RegionStores.model_validate({"store_ids": values["store_ids"]}).store_ids
        with attempt(session):
            regions.update_region(session, actor, region_id, data)
            regions.set_stores(session, actor, region_id, stores)
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        return _form(request, session, actor, region, values, errors)
    return redirect(LIST_URL, "flash.region_updated", name=region.name)


def _values(form: FormData) -> dict[str, object]:
    ticked = [value for value in form.getlist("store_ids") if isinstance(value, str)]
    return {"code": text(form, "code"), "name": text(form, "name"), "store_ids": ticked}


def _get(session: Session, actor: Actor, region_id: int) -> Region:
    with error_page_on(NotFound):
        region = regions.get_region(session, actor, region_id)
    return region


def _form(
    request: Request,
    session: Session,
    actor: Actor,
    region: Region | None,
    values: Mapping[str, object],
    errors: FormErrors,
) -> HTMLResponse:
    names = {r.id: r.name for r in regions.list_regions(session, actor)}
    return render(
        request,
        "stores/region_form.html",
        status=errors.status,
        region=region,
        values=values,
        errors=errors,
        store_options=store_options(session, actor),
        region_names=names,
    )
