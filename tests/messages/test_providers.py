"""Each provider against its local fake, which checks the signature or token as the real one
does; e-mail against aiosmtpd."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.settings import Settings
from patron.members import identities
from patron.members.models import IdentityType
from patron.members.schemas import IdentityIn
from patron.messages import channels, service, unsubscribe
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import Message, MessageTemplate
from patron.messages.providers import log as log_provider
from patron.webhooks import urls
from tests.factories import make_member
from tests.messages.fakes import FakeAliyun, FakeTencent, FakeWeChat, Receiver, serve

DAYTIME = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
BODY = "{{ name }}，您有{{ points }}积分将于{{ date }}到期"


@pytest.fixture(autouse=True)
def _daytime() -> None:
    clock.set_now(DAYTIME)


def add_template(session: Session, channel: Channel, body: str = BODY, **kw: Any) -> None:
    session.add(
        MessageTemplate(
            code="notice",
            channel=channel.value,
            purpose=kw.pop("purpose", Purpose.transactional.value),
            body=body,
            **kw,
        )
    )
    session.flush()


def send(session: Session, channel: Channel, member_id: int) -> Message:
    message = service.send(
        session,
        channel=channel,
        template_code="notice",
        variables={"points": 300, "date": "2026-06-30"},
        member_id=member_id,
    )
    session.commit()
    session.refresh(message)
    return message


def test_aliyun_sms_signed(session: Session) -> None:
    fake = FakeAliyun("LTAI-test", "aliyun-secret-0123456789")
    with serve(fake) as url:
        config = {
            "access_key_id": "LTAI-test",
            "access_key_secret": "aliyun-secret-0123456789",
            "sign_name": "示例品牌",
            "base_url": url,
        }
        channels.put(session, SYSTEM, Channel.sms, "aliyun", True, config)
        add_template(session, Channel.sms, provider_template="SMS_123456")
        member = make_member(session, name="张伟")
        message = send(session, Channel.sms, member.id)
    assert (message.status, message.provider_message_id) == ("sent", "biz-1")
    params = fake.sent[0]
    assert params["PhoneNumbers"] == member.mobile.removeprefix("+86")  # type: ignore[union-attr]
    assert params["TemplateCode"] == "SMS_123456"
    assert params["SignName"] == "示例品牌"
    assert json.loads(params["TemplateParam"]) == {
        "name": "张伟",
        "points": "300",
        "date": "2026-06-30",
    }


def test_aliyun_wrong_secret_fails_without_retry_loop(session: Session) -> None:
    fake = FakeAliyun("LTAI-test", "the-real-secret-0000")
    with serve(fake) as url:
        config = {"access_key_id": "LTAI-test", "access_key_secret": "wrong", "base_url": url}
        channels.put(session, SYSTEM, Channel.sms, "aliyun", True, config)
        add_template(session, Channel.sms, provider_template="SMS_1")
        message = send(session, Channel.sms, make_member(session).id)
    assert message.status == "failed"
    assert "SignatureDoesNotMatch" in message.error
    assert fake.sent == []


def test_tencent_sms_signed_tc3(session: Session) -> None:
    fake = FakeTencent("AKID-test", "tencent-secret-0123456789")
    with serve(fake) as url:
        config = {
            "secret_id": "AKID-test",
            "secret_key": "tencent-secret-0123456789",
            "sdk_app_id": "1400000000",
            "sign_name": "示例品牌",
            "base_url": url,
        }
        channels.put(session, SYSTEM, Channel.sms, "tencent", True, config)
        add_template(session, Channel.sms, provider_template="1234567")
        member = make_member(session, name="张伟")
        message = send(session, Channel.sms, member.id)
    assert (message.status, message.provider_message_id) == ("sent", "serial-1")
    body = fake.sent[0]
    assert body["PhoneNumberSet"] == [member.mobile]
    assert body["TemplateId"] == "1234567"
    # By position, in the order the body names the variables.
    assert body["TemplateParamSet"] == ["张伟", "300", "2026-06-30"]


def test_tencent_bad_key_is_refused(session: Session) -> None:
    fake = FakeTencent("AKID-test", "right")
    with serve(fake) as url:
        config = {
            "secret_id": "AKID-test",
            "secret_key": "wrong",
            "sdk_app_id": "1",
            "base_url": url,
        }
        channels.put(session, SYSTEM, Channel.sms, "tencent", True, config)
        add_template(session, Channel.sms, provider_template="1")
        message = send(session, Channel.sms, make_member(session).id)
    assert message.status == "failed"
    assert "AuthFailure" in message.error


def test_wechat_token_cached_and_refreshed(session: Session) -> None:
    fake = FakeWeChat("wx-app", "wx-secret-0123456789")
    with serve(fake) as url:
        config = {"app_id": "wx-app", "app_secret": "wx-secret-0123456789", "base_url": url}
        channels.put(session, SYSTEM, Channel.wechat, "wechat", True, config)
        add_template(
            session,
            Channel.wechat,
            body="thing1: {{ name }}\nnumber2: {{ points }}\ndate3: {{ date }}",
            provider_template="tmpl-abc",
        )
        member = make_member(session, name="张伟")
        identities.add_identity(
            session, SYSTEM, member, IdentityIn(type=IdentityType.wechat_openid, value="o-open-1")
        )
        first = send(session, Channel.wechat, member.id)
        second = send(session, Channel.wechat, member.id)
        assert fake.token_fetches == 1  # cached
        fake.expire()
        third = send(session, Channel.wechat, member.id)
    assert fake.token_fetches == 2  # refetched once the old one was refused
    assert [m.status for m in (first, second, third)] == ["sent"] * 3
    sent = fake.sent[0]
    assert sent["touser"] == "o-open-1"
    assert sent["template_id"] == "tmpl-abc"
    assert sent["data"] == {
        "thing1": {"value": "张伟"},
        "number2": {"value": "300"},
        "date3": {"value": "2026-06-30"},
    }


def test_webhook_channel_signed_standard_webhooks(session: Session) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = Receiver()
    # The clock stays at DAYTIME (a `--now` run): the signature is dated by the wall clock, which
    # the receiver checks against its own.
    with serve(receiver) as url:
        channels.put(
            session, SYSTEM, Channel.webhook, "webhook", True, {"url": url, "secret": secret}
        )
        add_template(session, Channel.webhook)
        member = make_member(session, name="张伟")
        message = send(session, Channel.webhook, member.id)
    assert message.status == "sent"
    headers, body = receiver.got[0]
    payload = Webhook(secret).verify(body, headers)
    assert payload["data"]["member_id"] == member.id
    assert payload["data"]["body"] == "张伟，您有300积分将于2026-06-30到期"
    assert headers["webhook-id"] == f"msg_{message.id}"


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, smtp_session: Any, envelope: Any) -> str:
        self.mails.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_smtp_with_one_click_unsubscribe(session: Session) -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = {
            "host": "127.0.0.1",
            "port": str(controller.port),
            "security": "none",
            "from_address": "news@brand.example",
        }
        channels.put(session, SYSTEM, Channel.email, "smtp", True, config)
        add_template(
            session,
            Channel.email,
            subject="{{ name }}，积分提醒",
            purpose=Purpose.marketing.value,
        )
        member = make_member(session, name="张伟", email="zw@example.com", consents={"email": True})
        message = send(session, Channel.email, member.id)
    finally:
        controller.stop()
    assert message.status == "sent"
    envelope = inbox.mails[0]
    assert envelope.rcpt_tos == ["zw@example.com"]
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert mail["Subject"] == "张伟，积分提醒"
    link = mail["List-Unsubscribe"].strip().strip("<>")  # a long URL folds onto its own line
    assert link == unsubscribe.url_for(member.id, unsubscribe.ConsentChannel.email)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "300" in mail.get_content()


def test_smtp_unreachable_is_retried_later(session: Session) -> None:
    config = {
        "host": "127.0.0.1",
        "port": str(free_port()),
        "security": "none",
        "from_address": "news@brand.example",
    }
    channels.put(session, SYSTEM, Channel.email, "smtp", True, config)
    add_template(session, Channel.email)
    member = make_member(session, email="zw@example.com")
    message = send(session, Channel.email, member.id)
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.send_after > DAYTIME
    assert "smtp" in message.error


def test_webhook_channel_url_is_guarded_when_saved_and_when_sent(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"url": "http://127.0.0.1:9/hook", "secret": "whsec_" + "A" * 32}
    channels.put(session, SYSTEM, Channel.webhook, "webhook", True, config)  # allowed in tests
    add_template(session, Channel.webhook)
    member = make_member(session, name="张伟")
    monkeypatch.setattr(urls, "private_allowed", lambda settings: False)
    with pytest.raises(InvalidInput) as refused:
        channels.put(session, SYSTEM, Channel.webhook, "webhook", True, config)
    assert refused.value.extra["errors"][0]["field"] == "config.url"
    assert refused.value.extra["errors"][0]["code"] == Reason.url_not_allowed.value
    message = send(session, Channel.webhook, member.id)  # saved before: refused when sent
    assert message.status == "failed"
    assert message.error.startswith("webhook: refused: the host 127.0.0.1 resolves to an internal")


def test_the_log_provider_keeps_the_body_out_of_production_logs(
    session: Session,
    log_channels: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    add_template(session, Channel.sms)
    member = make_member(session, name="张伟", consents={"sms": True})
    with caplog.at_level(logging.INFO, logger="patron.messages"):
        send(session, Channel.sms, member.id)
        production = settings.model_copy(update={"env": "production"})
        monkeypatch.setattr(log_provider, "get_settings", lambda: production)
        send(session, Channel.sms, member.id)
    development, quiet = [r.getMessage() for r in caplog.records if "to " in r.getMessage()]
    assert "张伟，您有300积分" in development
    assert "张伟" not in quiet
    assert quiet.endswith("characters")
