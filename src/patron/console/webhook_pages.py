"""Webhooks (HQ administrators): the endpoints, each one's secret shown once (at creation and
rotation), and its delivery log with a retry per delivery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.console.forms import NO_ERRORS, FormErrors, form_errors
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
    settings_of,
    t_for,
    text,
)
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.webhooks import permissions as webhook_policy
from patron.webhooks import service as webhooks
from patron.webhooks import urls
from patron.webhooks.models import WebhookEndpoint
from patron.webhooks.payloads import event_id
from patron.webhooks.schemas import WebhookCreate, WebhookUpdate

router = APIRouter(prefix="/webhooks")
PAGE_SIZE = 20
LIST_URL = f"{PREFIX}/webhooks"
STATUSES = ("pending", "succeeded", "failed")
PII = ("masked", "full")


@router.get("")
def webhook_list(
    request: Request, session: Tx, actor: ConsoleActorDep, cursor: str = ""
) -> HTMLResponse:
    require_console(actor, webhook_policy.MANAGE)
    with error_page_on(InvalidInput):
        page = webhooks.list_endpoints(session, cursor or None, PAGE_SIZE)
    return render(
        request,
        "webhooks/list.html",
        endpoints=page.items,
        disabled=webhooks.disabled_for_failures(session),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.get("/new")
def webhook_new(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, webhook_policy.MANAGE)
    values = {"event_types": ["*"], "pii": "masked", "enabled": True}
    return _form(request, None, values, NO_ERRORS)


@router.post("/new")
def webhook_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, webhook_policy.MANAGE)
    values = _values(form)
    try:
        data = WebhookCreate.model_validate(values)
        with attempt(session):
            endpoint, secret = webhooks.create(
                session, actor, data, allow_private=urls.private_allowed(settings_of(request))
            )
    except (ValidationError, PatronError) as error:
        return _form(request, None, values, form_errors(error, t_for(request)))
    return render(request, "webhooks/secret.html", endpoint=endpoint, secret=secret, created=True)


@router.get("/{webhook_id:int}/edit")
def webhook_edit(
    request: Request, webhook_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, webhook_policy.MANAGE)
    endpoint = _get(session, webhook_id)
    return _form(request, endpoint, webhooks.snapshot(endpoint), NO_ERRORS)


@router.post("/{webhook_id:int}/edit")
def webhook_update(
    request: Request, webhook_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, webhook_policy.MANAGE)
    endpoint = _get(session, webhook_id)
    values = _values(form)
    try:
        data = WebhookUpdate.model_validate(values)
        with attempt(session):
            webhooks.update(
                session,
                actor,
                webhook_id,
                data,
                allow_private=urls.private_allowed(settings_of(request)),
            )
    except (ValidationError, PatronError) as error:
        return _form(request, endpoint, values, form_errors(error, t_for(request)))
    return redirect(LIST_URL, "flash.webhook_saved", name=endpoint.url)


@router.post("/{webhook_id:int}/status")
def webhook_status(
    webhook_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, webhook_policy.MANAGE)
    enabled = text(form, "enabled") == "true"
    with error_page_on(PatronError):
        endpoint = webhooks.update(
            session, actor, webhook_id, WebhookUpdate(enabled=enabled), allow_private=True
        )
    flash = "flash.webhook_enabled" if enabled else "flash.webhook_disabled"
    return redirect(safe_next(form.get("next")), flash, name=endpoint.url)


@router.post("/{webhook_id:int}/delete")
def webhook_delete(
    webhook_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, webhook_policy.MANAGE)
    with error_page_on(PatronError):
        endpoint = webhooks.delete(session, actor, webhook_id)
    return redirect(LIST_URL, "flash.webhook_deleted", name=endpoint.url)


@router.post("/{webhook_id:int}/rotate")
def webhook_rotate(
    request: Request, webhook_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, webhook_policy.MANAGE)
    with error_page_on(PatronError):
        secret = webhooks.rotate_secret(session, actor, webhook_id)
    endpoint = _get(session, webhook_id)
    return render(request, "webhooks/secret.html", endpoint=endpoint, secret=secret, created=False)


@router.get("/{webhook_id:int}")
def webhook_deliveries(
    request: Request,
    webhook_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    status: str = "",
    cursor: str = "",
) -> HTMLResponse:
    require_console(actor, webhook_policy.MANAGE)
    endpoint = _get(session, webhook_id)
    chosen = status if status in STATUSES else None
    with error_page_on(InvalidInput):
        page = webhooks.list_deliveries(session, webhook_id, chosen, cursor or None, PAGE_SIZE)
    return render(
        request,
        "webhooks/deliveries.html",
        endpoint=endpoint,
        deliveries=page.items,
        event_id=event_id,
        statuses=STATUSES,
        filters={"status": chosen or ""},
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.post("/{webhook_id:int}/deliveries/{delivery_id:int}/retry")
def delivery_retry(
    webhook_id: int, delivery_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, webhook_policy.MANAGE)
    back = safe_next(form.get("next"))
    try:
        with attempt(session):
            delivery = webhooks.retry(session, actor, webhook_id, delivery_id)
    except NotFound as error:
        raise ErrorPage(404) from error
    except PatronError:
        return redirect(back, "flash.error.webhook_disabled")
    return redirect(back, "flash.delivery_retried", name=event_id(delivery.event_id))


@router.post("/{webhook_id:int}/retry-failed")
def deliveries_retry_failed(
    webhook_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, webhook_policy.MANAGE)
    back = safe_next(form.get("next"))
    try:
        with attempt(session):
            ids = webhooks.retry_failed(session, actor, webhook_id)
    except NotFound as error:
        raise ErrorPage(404) from error
    except PatronError:
        return redirect(back, "flash.error.webhook_disabled")
    return redirect(back, "flash.deliveries_retried", name=str(len(ids)))


def _get(session: Session, webhook_id: int) -> WebhookEndpoint:
    with error_page_on(NotFound):
        endpoint = webhooks.get(session, webhook_id)
    return endpoint


def _values(form: FormData) -> dict[str, Any]:
    types = [str(v) for v in form.getlist("event_types") if isinstance(v, str) and v]
    return {
        "url": text(form, "url"),
        "description": text(form, "description"),
        "event_types": types,
        "pii": text(form, "pii") or "masked",
        "enabled": form.get("enabled") is not None,
    }


def _form(
    request: Request,
    endpoint: WebhookEndpoint | None,
    values: Mapping[str, object],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "webhooks/form.html",
        status=errors.status,
        endpoint=endpoint,
        values=values,
        errors=errors,
        event_types=webhooks.known_event_types(),
        pii_options=PII,
    )
