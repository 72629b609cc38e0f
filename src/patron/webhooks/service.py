"""Webhook endpoints (HQ's integrations: POS, mall, ERP) and their delivery log. An endpoint's
secret is made here, returned once at creation or rotation, and kept encrypted."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, events
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.core.tasks import after_commit
from patron.webhooks import tasks as webhook_tasks
from patron.webhooks import urls
from patron.webhooks.delivery import DISABLED_FOR_FAILURES
from patron.webhooks.errors import DeliveryNotFound, WebhookDisabled, WebhookNotFound
from patron.webhooks.models import WebhookDelivery, WebhookEndpoint
from patron.webhooks.relay import ALL
from patron.webhooks.schemas import WebhookCreate, WebhookUpdate

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def known_event_types() -> list[str]:
    """What the domains publish (each EventType made), by name."""
    return sorted(events.EVENT_TYPES)


def check_event_types(types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(types))
    if ALL in chosen:
        return [ALL]
    known = set(events.EVENT_TYPES)
    for name in chosen:
        if name not in known:
            raise InvalidInput(
                "event_types",
                f"unknown event type {name!r}: one of {', '.join(sorted(known))}, or '*'",
                code=Reason.unknown_event_type,
            )
    return chosen


def snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "pii": endpoint.pii,
    }


def create(
    session: Session, actor: Actor, data: WebhookCreate, *, allow_private: bool
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its secret (shown once)."""
    urls.check(data.url, allow_private)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=data.url,
        description=data.description,
        event_types=check_event_types(data.event_types),
        enabled=data.enabled,
        secret=secret,
        pii=data.pii,
        disabled_reason="",
    )
    session.add(endpoint)
    session.flush()
    audit.record(session, actor, "webhook.create", "webhook", endpoint.id, after=snapshot(endpoint))
    return endpoint, secret


def get(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookNotFound(f"no webhook {endpoint_id}")
    return endpoint


def list_endpoints(session: Session, cursor: str | None, limit: int) -> PageResult[Any]:
    return paginate(session, select(WebhookEndpoint), WebhookEndpoint.id, cursor, limit)


def disabled_for_failures(session: Session) -> list[WebhookEndpoint]:
    """The endpoints Patron disabled after 3 days of failures (the console's banner)."""
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.disabled_reason == DISABLED_FOR_FAILURES)
            .order_by(WebhookEndpoint.id)
        )
    )


def update(
    session: Session, actor: Actor, endpoint_id: int, data: WebhookUpdate, *, allow_private: bool
) -> WebhookEndpoint:
    endpoint = get(session, endpoint_id)
    before = snapshot(endpoint)
    if data.url is not None:
        urls.check(data.url, allow_private)
        endpoint.url = data.url
    if data.event_types is not None:
        endpoint.event_types = check_event_types(data.event_types)
    if data.description is not None:
        endpoint.description = data.description
    if data.pii is not None:
        endpoint.pii = data.pii
    if data.enabled is not None and data.enabled != endpoint.enabled:
        endpoint.enabled = data.enabled
        if data.enabled:  # a fresh start: its failures are forgiven
            endpoint.failing_since = None
            endpoint.disabled_reason = ""
    session.flush()
    after = snapshot(endpoint)
    if after != before:
        audit.record(
            session, actor, "webhook.update", "webhook", endpoint.id, before=before, after=after
        )
    return endpoint


def delete(session: Session, actor: Actor, endpoint_id: int) -> WebhookEndpoint:
    """Remove the endpoint with its delivery log."""
    endpoint = get(session, endpoint_id)
    before = snapshot(endpoint)
    session.delete(endpoint)
    session.flush()
    audit.record(session, actor, "webhook.delete", "webhook", endpoint_id, before=before)
    return endpoint


def rotate_secret(session: Session, actor: Actor, endpoint_id: int) -> str:
    """A new secret, in use from the next delivery on; the old one stops at once."""
    endpoint = get(session, endpoint_id)
    secret = new_secret()
    endpoint.secret = secret
    endpoint.updated_at = clock.now()
    session.flush()
    audit.record(session, actor, "webhook.rotate_secret", "webhook", endpoint.id)
    return secret


def list_deliveries(
    session: Session, endpoint_id: int, status: str | None, cursor: str | None, limit: int
) -> PageResult[Any]:
    get(session, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return paginate(session, query, WebhookDelivery.id, cursor, limit)


def get_delivery(session: Session, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise DeliveryNotFound(f"no delivery {delivery_id} of webhook {endpoint_id}")
    return delivery


def retry(session: Session, actor: Actor, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send the delivery again now, whatever its status (receivers de-duplicate on its id): one
    more attempt for a failed one, the retry schedule's next at once for a pending one."""
    endpoint = get(session, endpoint_id)
    delivery = get_delivery(session, endpoint_id, delivery_id)
    if not endpoint.enabled:
        raise WebhookDisabled(f"webhook {endpoint_id} is disabled; enable it first")
    delivery.status = "pending"
    delivery.next_attempt_at = clock.now()
    session.flush()
    audit.record(session, actor, "webhook.retry", "webhook_delivery", delivery.id)
    after_commit(session, lambda: webhook_tasks.enqueue([delivery_id]))
    return delivery


RETRY_ALL_LIMIT = 10_000


def retry_failed(session: Session, actor: Actor, endpoint_id: int) -> list[int]:
    """Send the endpoint's failed deliveries again (after an outage, once it answers again):
    the oldest RETRY_ALL_LIMIT of them, queued after commit. Their ids."""
    endpoint = get(session, endpoint_id)
    if not endpoint.enabled:
        raise WebhookDisabled(f"webhook {endpoint_id} is disabled; enable it first")
    ids = list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "failed")
            .order_by(WebhookDelivery.id)
            .limit(RETRY_ALL_LIMIT)
        )
    )
    if ids:
        session.execute(
            sql_update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(status="pending", next_attempt_at=clock.now())
        )
        audit.record(
            session,
            actor,
            "webhook.retry_failed",
            "webhook",
            endpoint_id,
            after={"count": len(ids)},
        )
        after_commit(session, lambda: webhook_tasks.enqueue(ids))
    return ids
