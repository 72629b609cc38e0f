"""The messages API: log, send, templates, channels (keys write-only), test sends, and the
unsubscribe paths (SMS reply callback, e-mail link)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.members import consents
from patron.members.models import ConsentChannel
from patron.messages import unsubscribe
from patron.messages.models import ChannelSetting, MessageTemplate
from tests.factories import make_member, make_staff, staff_headers

DAYTIME = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _daytime() -> None:
    clock.set_now(DAYTIME)


@pytest.fixture
def admin(session: Session, settings: Settings) -> dict[str, str]:
    return staff_headers(make_staff(session, Role.hq_admin), settings)


def put_sms_log(client: TestClient, admin: dict[str, str]) -> None:
    answer = client.put(
        "/api/v1/message-channels/sms",
        json={"provider": "log", "config": {"inbound_token": "secret-inbound-token-123"}},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text


def test_channel_keys_are_write_only(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    config = {
        "access_key_id": "LTAI-1",
        "access_key_secret": "very-secret-value-9876",
        "sign_name": "品牌",
    }
    answer = client.put(
        "/api/v1/message-channels/sms",
        json={"provider": "aliyun", "config": config},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["config"]["access_key_secret"] == "****9876"
    assert "very-secret" not in answer.text
    assert shown["secret_fields"] == ["access_key_secret", "inbound_token"]
    # Stored encrypted, not readable in the table.
    raw = (
        session.connection()
        .exec_driver_sql("SELECT config FROM message_channels WHERE channel = 'sms'")
        .scalar_one()
    )
    assert "very-secret" not in raw
    # Saving again without the secret keeps it.
    config.pop("access_key_secret")
    again = client.put(
        "/api/v1/message-channels/sms",
        json={"provider": "aliyun", "config": config | {"sign_name": "新品牌"}},
        headers=admin,
    )
    assert again.json()["config"]["access_key_secret"] == "****9876"
    assert again.json()["config"]["sign_name"] == "新品牌"
    got = client.get("/api/v1/message-channels/sms", headers=admin).json()
    assert got["provider"] == "aliyun"
    assert "very-secret" not in str(got)


def test_channel_refuses_another_channels_provider(
    client: TestClient, admin: dict[str, str]
) -> None:
    answer = client.put(
        "/api/v1/message-channels/sms", json={"provider": "smtp", "config": {}}, headers=admin
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "unknown_message_provider"


def test_marketing_may_not_touch_channels(
    client: TestClient, session: Session, settings: Settings
) -> None:
    marketing = staff_headers(make_staff(session, Role.hq_marketing), settings)
    assert client.get("/api/v1/message-channels/sms", headers=marketing).status_code == 403
    assert client.get("/api/v1/messages", headers=marketing).status_code == 200


def test_test_send_and_log(client: TestClient, admin: dict[str, str]) -> None:
    put_sms_log(client, admin)
    answer = client.post(
        "/api/v1/message-channels/sms/test", json={"recipient": "+8613800001234"}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    sent = answer.json()
    assert sent["status"] == "sent"
    assert sent["recipient"] == "138****1234"
    log = client.get("/api/v1/messages", params={"channel": "sms"}, headers=admin).json()
    assert [m["id"] for m in log["items"]] == [sent["id"]]
    assert "13800001234" not in str(log)


def test_send_to_member_and_filter(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    put_sms_log(client, admin)
    session.add(
        MessageTemplate(
            code="promo", channel="sms", purpose="marketing", body="{{ name }}，{{ offer }}"
        )
    )
    yes = make_member(session, name="李娜", consents={"sms": True})
    no = make_member(session, name="王强")
    session.commit()
    for member in (yes, no):
        answer = client.post(
            "/api/v1/messages",
            json={
                "member_id": member.id,
                "channel": "sms",
                "template_code": "promo",
                "variables": {"offer": "新品8折"},
            },
            headers=admin,
        )
        assert answer.status_code == 201, answer.text
    log = client.get("/api/v1/messages", headers=admin).json()["items"]
    by_member = {m["member_id"]: m for m in log}
    assert by_member[yes.id]["status"] == "sent"
    assert by_member[yes.id]["body"] == "李娜，新品8折回T退订"
    assert (by_member[no.id]["status"], by_member[no.id]["reason"]) == ("skipped", "no_consent")
    skipped = client.get(
        "/api/v1/messages", params={"status": "skipped", "member_id": no.id}, headers=admin
    ).json()["items"]
    assert [m["member_id"] for m in skipped] == [no.id]


def test_template_crud_and_broken_template(client: TestClient, admin: dict[str, str]) -> None:
    body = {"code": "welcome", "channel": "sms", "purpose": "marketing", "body": "欢迎{{ name }}"}
    created = client.post("/api/v1/message-templates", json=body, headers=admin)
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    taken = client.post("/api/v1/message-templates", json=body, headers=admin)
    assert taken.json()["code"] == "message_template_taken"
    broken = client.patch(
        f"/api/v1/message-templates/{template_id}", json={"body": "{{ name "}, headers=admin
    )
    assert broken.status_code == 422
    assert broken.json()["code"] == "template_render_failed"
    edited = client.patch(
        f"/api/v1/message-templates/{template_id}",
        json={"provider_template": "SMS_1"},
        headers=admin,
    )
    assert edited.json()["provider_template"] == "SMS_1"
    for wrong in ({"active": None}, {"body": None}, {"active": 0}):
        refused = client.patch(
            f"/api/v1/message-templates/{template_id}", json=wrong, headers=admin
        )
        assert refused.status_code == 422, wrong
    not_bool = client.post(
        "/api/v1/message-templates", json={**body, "code": "other", "active": 0}, headers=admin
    )
    assert not_bool.status_code == 422
    listed = client.get("/api/v1/message-templates", headers=admin).json()["items"]
    assert [t["code"] for t in listed] == ["welcome"]
    gone = client.delete(f"/api/v1/message-templates/{template_id}", headers=admin)
    assert gone.status_code == 204
    missing = client.get(f"/api/v1/message-templates/{template_id}", headers=admin)
    assert missing.json()["code"] == "message_template_not_found"


@pytest.mark.parametrize("reply", ["T", "td", "退订", " T。"])
def test_sms_reply_withdraws_consent(
    client: TestClient, session: Session, admin: dict[str, str], reply: str
) -> None:
    put_sms_log(client, admin)
    member = make_member(session, consents={"sms": True})
    session.commit()
    national = member.mobile.removeprefix("+86")  # type: ignore[union-attr]
    answer = client.post(
        "/api/v1/messages/inbound/sms",
        params={"token": "secret-inbound-token-123"},
        json=[{"phone_number": national, "content": reply}],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["unsubscribed"] == 1
    assert not consents.has_consent(session, member.id, ConsentChannel.sms)
    last = consents.consent_history(session, member.id)[-1]
    assert (last.granted, last.source) == (False, "sms_reply")


def test_sms_reply_other_text_changes_nothing(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    put_sms_log(client, admin)
    member = make_member(session, consents={"sms": True})
    session.commit()
    answer = client.post(
        "/api/v1/messages/inbound/sms",
        headers={"X-Patron-Token": "secret-inbound-token-123"},
        json={"mobile": member.mobile, "text": "谢谢"},
    )
    assert answer.json()["unsubscribed"] == 0
    assert consents.has_consent(session, member.id, ConsentChannel.sms)


def test_sms_inbound_needs_the_token(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    no_channel = client.post("/api/v1/messages/inbound/sms", params={"token": "x"}, json={})
    assert no_channel.status_code == 401
    put_sms_log(client, admin)
    wrong = client.post("/api/v1/messages/inbound/sms", params={"token": "wrong"}, json={})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "inbound_token_invalid"
    assert session.get(ChannelSetting, "sms") is not None


def test_email_unsubscribe_link(client: TestClient, session: Session) -> None:
    member = make_member(session, email="a@example.com", consents={"email": True})
    session.commit()
    link = unsubscribe.url_for(member.id, ConsentChannel.email)
    path = link.removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert consents.has_consent(session, member.id, ConsentChannel.email)  # GET changes nothing
    # A mail client's one-click request (RFC 8058).
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert not consents.has_consent(session, member.id, ConsentChannel.email)
    last = consents.consent_history(session, member.id)[-1]
    assert last.source == "email_unsubscribe"


def test_forged_unsubscribe_link(client: TestClient, session: Session) -> None:
    member = make_member(session, email="a@example.com", consents={"email": True})
    session.commit()
    token = unsubscribe.token_for(member.id, ConsentChannel.email)
    other = unsubscribe.token_for(member.id + 1, ConsentChannel.email)
    header, _, signature = token.split(".")
    forged = f"{header}.{other.split('.')[1]}.{signature}"  # another member's claims
    assert client.post(f"/u/{forged}").status_code == 404
    assert client.get("/u/garbage").status_code == 404
    assert consents.has_consent(session, member.id, ConsentChannel.email)
