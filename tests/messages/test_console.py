"""The console's message screens: channel settings (secret write-only, masked), test send into
the log, templates, permissions, both languages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD
from patron.core.actor import Role
from patron.messages.models import MessageTemplate

Client = Callable[..., TestClient]


def texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_channel_settings_test_send_and_log(signed_in: Client) -> None:
    client = signed_in(Role.hq_admin)
    page = client.get("/console/messages/channels/sms?provider=aliyun")
    assert page.status_code == 200
    assert 'name="config.access_key_secret"' in page.text
    saved = client.post(
        "/console/messages/channels/sms",
        data={
            CSRF_FIELD: client.headers["x-csrf"],
            "provider": "aliyun",
            "enabled": "on",
            "config.access_key_id": "LTAI-1",
            "config.access_key_secret": "a-very-secret-key-4321",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get("/console/messages/channels/sms")
    assert "a-very-secret" not in page.text
    assert "****4321" in page.text  # the placeholder of the secret's input
    # Back to the log provider, then a test send shows in the log.
    client.post(
        "/console/messages/channels/sms",
        data={CSRF_FIELD: client.headers["x-csrf"], "provider": "log", "enabled": "on"},
    )
    sent = client.post(
        "/console/messages/channels/sms/test",
        data={CSRF_FIELD: client.headers["x-csrf"], "recipient": "13800001234"},
    )
    assert sent.status_code == 200
    assert "测试消息已发送" in sent.text
    log = texts(sent.text)
    assert "138****1234" in log
    assert "已发送" in log


def test_required_key_refused_beside_its_field(signed_in: Client) -> None:
    client = signed_in(Role.hq_admin, lang="en")
    page = client.post(
        "/console/messages/channels/email",
        data={CSRF_FIELD: client.headers["x-csrf"], "provider": "smtp", "enabled": "on"},
    )
    assert page.status_code == 422
    assert "has-error" in page.text


def test_templates_created_and_edited(signed_in: Client, session: Session) -> None:
    client = signed_in(Role.hq_marketing, lang="en")
    created = client.post(
        "/console/messages/templates/new",
        data={
            CSRF_FIELD: client.headers["x-csrf"],
            "code": "spring_sale",
            "channel": "sms",
            "purpose": "marketing",
            "body": "{{ name }}，春季新品8折",
            "active": "on",
        },
    )
    assert created.status_code == 200
    assert "Template “spring_sale” created" in created.text
    template = session.query(MessageTemplate).filter_by(code="spring_sale").one()
    broken = client.post(
        f"/console/messages/templates/{template.id}/edit",
        data={
            CSRF_FIELD: client.headers["x-csrf"],
            "purpose": "marketing",
            "body": "{{ name ",
        },
    )
    assert broken.status_code == 422
    assert "could not be rendered" in broken.text


@pytest.mark.parametrize("role", [Role.cashier, Role.store_manager, Role.hq_finance])
def test_only_hq_sees_messages(signed_in: Client, role: Role) -> None:
    client = signed_in(role)
    assert client.get("/console/messages").status_code == 403
    assert "/console/messages" not in client.get("/console/").text


def test_marketing_sees_log_but_not_channels(signed_in: Client) -> None:
    client = signed_in(Role.hq_marketing)
    assert client.get("/console/messages").status_code == 200
    assert client.get("/console/messages/channels").status_code == 403
