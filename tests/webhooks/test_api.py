from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from patron.webhooks import urls
from patron.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import make_staff, make_store, staff_headers

HOOK = {"url": "http://127.0.0.1:9/hook", "event_types": ["order.completed"]}


@pytest.fixture
def admin(session: Session, settings: Settings) -> dict[str, str]:
    return staff_headers(make_staff(session), settings)


def test_the_secret_is_shown_once_and_signs_as_standard_webhooks(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    created = client.post("/api/v1/webhooks", json=HOOK, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["pii"] == "masked"
    assert body["enabled"] is True
    shown = client.get(f"/api/v1/webhooks/{body['id']}", headers=admin).json()
    assert "secret" not in shown
    listed = client.get("/api/v1/webhooks", headers=admin).json()["items"]
    assert [w["id"] for w in listed] == [body["id"]]
    assert all("secret" not in w for w in listed)
    stored = session.get(WebhookEndpoint, body["id"])
    assert stored is not None
    assert stored.secret == body["secret"]


def test_rotation_returns_a_new_secret_once(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    created = client.post("/api/v1/webhooks", json=HOOK, headers=admin).json()
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_")
    assert secret != created["secret"]
    endpoint = session.get(WebhookEndpoint, created["id"])
    assert endpoint is not None
    assert endpoint.secret == secret


def test_update_and_delete(client: TestClient, admin: dict[str, str], session: Session) -> None:
    created = client.post("/api/v1/webhooks", json=HOOK, headers=admin).json()
    url = f"/api/v1/webhooks/{created['id']}"
    patched = client.patch(
        url, json={"event_types": ["*"], "pii": "full", "enabled": False}, headers=admin
    ).json()
    assert (patched["event_types"], patched["pii"], patched["enabled"]) == (["*"], "full", False)
    assert client.delete(url, headers=admin).status_code == 200
    missing = client.get(url, headers=admin)
    assert missing.status_code == 404
    assert missing.json()["code"] == "webhook_not_found"


def test_enabling_again_forgives_the_failures(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    created = client.post("/api/v1/webhooks", json=HOOK, headers=admin).json()
    endpoint = session.get(WebhookEndpoint, created["id"])
    assert endpoint is not None
    endpoint.enabled, endpoint.disabled_reason = False, "failing"
    session.flush()
    out = client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"enabled": True}, headers=admin
    ).json()
    assert (out["enabled"], out["disabled_reason"], out["failing_since"]) == (True, "", None)


@pytest.mark.parametrize(
    ("types", "reason"),
    [(["order.shipped"], "unknown_event_type"), ([], "too_short")],
)
def test_event_types_are_the_published_ones_or_all(
    client: TestClient, admin: dict[str, str], types: list[str], reason: str
) -> None:
    refused = client.post("/api/v1/webhooks", json={**HOOK, "event_types": types}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == reason
    star = client.post(
        "/api/v1/webhooks", json={**HOOK, "event_types": ["*", "order.refunded"]}, headers=admin
    )
    assert star.json()["event_types"] == ["*"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "http:///hook",
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_internal_urls_are_refused_unless_allowed(
    make_app: Callable[..., FastAPI], session: Session, settings: Settings, url: str
) -> None:
    headers = staff_headers(make_staff(session), settings)
    with TestClient(make_app(webhook_private_urls=False)) as client:
        refused = client.post("/api/v1/webhooks", json={**HOOK, "url": url}, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["code"] == "url_not_allowed"
        created = client.post("/api/v1/webhooks", json=HOOK, headers=headers)
        assert created.status_code == 422
        patch_target = client.get("/api/v1/webhooks", headers=headers).json()["items"]
        assert patch_target == []


def test_a_public_address_passes_and_private_urls_follow_the_environment(
    settings: Settings,
) -> None:
    assert urls.problem("https://93.184.215.14/hook", allow_private=False) is None
    assert urls.private_allowed(settings)  # test
    production = settings.model_copy(update={"env": "production"})
    assert not urls.private_allowed(production)
    assert urls.private_allowed(production.model_copy(update={"webhook_private_urls": True}))


def test_only_hq_admins_manage_webhooks(
    client: TestClient, session: Session, settings: Settings
) -> None:
    manager = make_staff(session, Role.store_manager, [make_store(session)])
    headers = staff_headers(manager, settings)
    assert client.get("/api/v1/webhooks", headers=headers).status_code == 403
    assert client.post("/api/v1/webhooks", json=HOOK, headers=headers).status_code == 403


def _delivery(session: Session, endpoint_id: int, **fields: Any) -> WebhookDelivery:
    values: dict[str, Any] = {
        "endpoint_id": endpoint_id,
        "event_id": 1,
        "event_type": "order.completed",
        "payload": {"id": "evt_1"},
        "status": "failed",
        "attempts": 9,
        "error": "HTTP 500: boom",
        "response_code": 500,
        "duration_ms": 12,
    }
    delivery = WebhookDelivery(**(values | fields))
    session.add(delivery)
    session.flush()
    return delivery


def test_the_delivery_log_and_a_retry(
    client: TestClient, admin: dict[str, str], session: Session, queued: list[int]
) -> None:
    created = client.post("/api/v1/webhooks", json=HOOK, headers=admin).json()
    delivery = _delivery(session, created["id"])
    _delivery(session, created["id"], event_id=2, status="succeeded", response_code=200)
    base = f"/api/v1/webhooks/{created['id']}/deliveries"
    failed = client.get(base, params={"status": "failed"}, headers=admin).json()["items"]
    assert [(d["id"], d["event_id"], d["response_code"]) for d in failed] == [
        (delivery.id, "evt_1", 500)
    ]
    assert len(client.get(base, headers=admin).json()["items"]) == 2
    retried = client.post(f"{base}/{delivery.id}/retry", headers=admin)
    assert retried.status_code == 202
    assert retried.json()["status"] == "pending"
    assert queued == [delivery.id]
    assert client.post(f"{base}/999999/retry", headers=admin).status_code == 404
    client.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": False}, headers=admin)
    refused = client.post(f"{base}/{delivery.id}/retry", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["code"] == "webhook_disabled"
