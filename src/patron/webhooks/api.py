"""Webhook endpoints and their delivery log: HQ administrators only."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import OneHopRouter, SessionDep, SettingsDep, require
from patron.webhooks import permissions, service, urls
from patron.webhooks.errors import DeliveryNotFound, WebhookDisabled, WebhookNotFound
from patron.webhooks.models import WebhookDelivery
from patron.webhooks.payloads import event_id
from patron.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

router = OneHopRouter(prefix="/webhooks", tags=["webhooks"])
Admin = Annotated[Actor, Depends(require(permissions.MANAGE))]
Limit = Annotated[int, Query(ge=1, le=200)]


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        webhook_id=delivery.endpoint_id,
        event_id=event_id(delivery.event_id),
        event_type=delivery.event_type,
        status=delivery.status,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        response_code=delivery.response_code,
        duration_ms=delivery.duration_ms,
        error=delivery.error,
        created_at=delivery.created_at,
        last_attempt_at=delivery.last_attempt_at,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
    )


@router.get("", response_model=Page[WebhookOut])
def list_webhooks(
    session: SessionDep, actor: Admin, cursor: str | None = None, limit: Limit = 50
) -> Page[WebhookOut]:
    page = service.list_endpoints(session, cursor, limit)
    return Page(
        items=[WebhookOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post("", response_model=WebhookCreated, status_code=201)
def create_webhook(
    data: WebhookCreate, session: SessionDep, settings: SettingsDep, actor: Admin
) -> WebhookCreated:
    """The secret (whsec_…) signs every delivery; it is in this answer only."""
    endpoint, secret = service.create(
        session, actor, data, allow_private=urls.private_allowed(settings)
    )
    out = WebhookOut.model_validate(endpoint)
    return WebhookCreated(**out.model_dump(), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookOut, responses=errors(WebhookNotFound))
def get_webhook(webhook_id: int, session: SessionDep, actor: Admin) -> WebhookOut:
    return WebhookOut.model_validate(service.get(session, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut, responses=errors(WebhookNotFound))
def update_webhook(
    webhook_id: int, data: WebhookUpdate, session: SessionDep, settings: SettingsDep, actor: Admin
) -> WebhookOut:
    endpoint = service.update(
        session, actor, webhook_id, data, allow_private=urls.private_allowed(settings)
    )
    return WebhookOut.model_validate(endpoint)


@router.delete("/{webhook_id}", response_model=WebhookOut, responses=errors(WebhookNotFound))
def delete_webhook(webhook_id: int, session: SessionDep, actor: Admin) -> WebhookOut:
    """Removes the endpoint with its delivery log."""
    return WebhookOut.model_validate(service.delete(session, actor, webhook_id))


@router.post(
    "/{webhook_id}/rotate-secret", response_model=SecretRotated, responses=errors(WebhookNotFound)
)
def rotate_secret(webhook_id: int, session: SessionDep, actor: Admin) -> SecretRotated:
    """A new secret, used from the next delivery on (the old one stops at once)."""
    return SecretRotated(id=webhook_id, secret=service.rotate_secret(session, actor, webhook_id))


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=errors(WebhookNotFound),
)
def list_deliveries(
    webhook_id: int,
    session: SessionDep,
    actor: Admin,
    status: DeliveryStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[DeliveryOut]:
    """Newest first: status, attempts, the last attempt's response code and time taken."""
    page = service.list_deliveries(session, webhook_id, status, cursor, limit)
    return Page(items=[delivery_out(d) for d in page.items], next_cursor=page.next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    status_code=202,
    responses=errors(WebhookNotFound, DeliveryNotFound, WebhookDisabled),
)
def retry_delivery(
    webhook_id: int, delivery_id: int, session: SessionDep, actor: Admin
) -> DeliveryOut:
    """Queue the delivery to be sent again now (any status: receivers de-duplicate on its
    event id)."""
    return delivery_out(service.retry(session, actor, webhook_id, delivery_id))
