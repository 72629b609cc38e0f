"""The console's webhook pages through the test client, in both languages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD
from patron.core import clock
from patron.core.actor import Role
from patron.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import make_store
from tests.webhooks.helpers import endpoint

Client = Callable[..., TestClient]


def texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    ("lang", "created", "secret_once"),
    [("zh", "Webhook 已创建", "只显示这一次"), ("en", "Webhook created", "shown only this once")],
)
def test_an_admin_adds_a_webhook_and_sees_its_secret_once(
    signed_in: Client, session: Session, lang: str, created: str, secret_once: str
) -> None:
    client = signed_in(Role.hq_admin, lang=lang)
    assert client.get("/console/webhooks").status_code == 200
    form = {
        CSRF_FIELD: client.headers["x-csrf"],
        "url": "http://127.0.0.1:9/hook",
        "description": "ERP",
        "event_types": ["order.completed", "order.refunded"],
        "pii": "masked",
        "enabled": "on",
    }
    page = client.post("/console/webhooks/new", data=form)
    assert page.status_code == 200
    text = texts(page.text)
    assert created in text
    assert secret_once in text
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", page.text)
    assert secret is not None
    hook = session.query(WebhookEndpoint).one()
    assert hook.secret == secret[0]
    assert hook.event_types == ["order.completed", "order.refunded"]
    listed = client.get("/console/webhooks").text
    assert "http://127.0.0.1:9/hook" in listed
    assert "whsec_" not in listed
    assert "whsec_" not in client.get(f"/console/webhooks/{hook.id}/edit").text


def test_a_refused_url_is_said_beside_its_field(signed_in: Client, session: Session) -> None:
    client = signed_in(Role.hq_admin, lang="en")
    form = {CSRF_FIELD: client.headers["x-csrf"], "url": "ftp://x/hook", "event_types": "*"}
    page = client.post("/console/webhooks/new", data=form)
    assert page.status_code == 422
    assert "http or https only" in texts(page.text)
    form |= {"url": "http://127.0.0.1:9/hook", "event_types": "order.shipped"}
    page = client.post("/console/webhooks/new", data=form)
    assert page.status_code == 422
    assert "Unknown event type" in texts(page.text)
    assert session.query(WebhookEndpoint).count() == 0


def test_edit_rotate_disable_and_delete(signed_in: Client, session: Session) -> None:
    client = signed_in(Role.hq_admin, lang="en")
    hook = endpoint(session)
    old = hook.secret
    csrf = {CSRF_FIELD: client.headers["x-csrf"]}
    saved = client.post(
        f"/console/webhooks/{hook.id}/edit",
        data=csrf | {"url": hook.url, "event_types": "order.refunded", "pii": "full"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(hook)
    assert (hook.event_types, hook.pii, hook.enabled) == (["order.refunded"], "full", False)
    rotated = client.post(f"/console/webhooks/{hook.id}/rotate", data=csrf)
    assert "Secret rotated" in rotated.text
    session.refresh(hook)
    assert hook.secret != old
    assert hook.secret in rotated.text
    client.post(f"/console/webhooks/{hook.id}/status", data=csrf | {"enabled": "true"})
    session.refresh(hook)
    assert hook.enabled
    client.post(f"/console/webhooks/{hook.id}/delete", data=csrf)
    session.expunge_all()
    assert session.get(WebhookEndpoint, hook.id) is None


def test_the_delivery_log_retries_and_hq_hears_of_a_disabled_endpoint(
    signed_in: Client, session: Session, queued: list[int]
) -> None:
    client = signed_in(Role.hq_admin, lang="zh")
    hook = endpoint(session)
    delivery = WebhookDelivery(
        endpoint_id=hook.id,
        event_id=42,
        event_type="order.completed",
        payload={"id": "evt_42"},
        status="failed",
        attempts=9,
        response_code=500,
        duration_ms=12,
        error="HTTP 500: boom",
        last_attempt_at=clock.now(),
    )
    session.add(delivery)
    session.flush()
    log = texts(client.get(f"/console/webhooks/{hook.id}").text)
    assert "evt_42" in log
    assert "失败" in log
    assert "HTTP 500: boom" in log
    csrf = {CSRF_FIELD: client.headers["x-csrf"], "next": f"/console/webhooks/{hook.id}"}
    retried = client.post(f"/console/webhooks/{hook.id}/deliveries/{delivery.id}/retry", data=csrf)
    assert retried.status_code == 200
    assert "已重新排队推送" in texts(retried.text)
    assert queued == [delivery.id]
    hook.enabled, hook.disabled_reason, hook.failing_since = False, "failing", clock.now()
    session.flush()
    assert "连续失败 3 天" in texts(client.get("/console/").text)
    assert "连续失败 3 天" in texts(client.get("/console/webhooks").text)


def test_only_hq_admins_see_webhooks(signed_in: Client, session: Session) -> None:
    manager = signed_in(Role.store_manager, [make_store(session)])
    assert manager.get("/console/webhooks").status_code == 403
    assert "/console/webhooks" not in manager.get("/console/").text
    hook = endpoint(session)
    hook.enabled, hook.disabled_reason = False, "failing"
    session.flush()
    assert "连续失败 3 天" not in texts(manager.get("/console/").text)


def test_all_failed_deliveries_are_sent_again_at_once(
    signed_in: Client, session: Session, queued: list[int]
) -> None:
    client = signed_in(Role.hq_admin, lang="en")
    hook = endpoint(session)
    rows = [
        WebhookDelivery(
            endpoint_id=hook.id,
            event_id=n,
            event_type="order.completed",
            payload={"id": f"evt_{n}"},
            status=status,
            error="",
        )
        for n, status in enumerate(["failed", "succeeded", "failed"], start=1)
    ]
    session.add_all(rows)
    session.flush()
    csrf = {CSRF_FIELD: client.headers["x-csrf"], "next": f"/console/webhooks/{hook.id}"}
    page = client.post(f"/console/webhooks/{hook.id}/retry-failed", data=csrf)
    assert "2 failed deliveries queued again" in texts(page.text)
    assert queued == [rows[0].id, rows[2].id]
    session.expire_all()
    assert [r.status for r in rows] == ["pending", "succeeded", "pending"]
