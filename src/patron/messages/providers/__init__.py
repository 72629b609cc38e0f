"""Message providers: each sends one message over one channel and answers the provider's id for
it, or raises ProviderFailed. A provider declares the configuration fields it reads; those marked
secret are stored encrypted with the channel and never shown again (only masked).

The HTTP providers (Alibaba Cloud SMS, Tencent Cloud SMS, WeChat) take their base URL from the
configuration, so tests point them at a local fake server that checks their signatures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from patron.messages.models import Message, MessageTemplate


@dataclass(frozen=True)
class ConfigField:
    name: str
    secret: bool = False
    required: bool = True
    default: str = ""
    url: bool = False  # a URL Patron calls: no internal address unless allowed (when saved)


class Provider(Protocol):
    name: str
    fields: tuple[ConfigField, ...]

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str: ...


# The SMS channel's inbound token: provider callbacks (replies such as "T" to unsubscribe) carry it.
INBOUND_TOKEN = ConfigField("inbound_token", secret=True, required=False)
HTTP_TIMEOUT = 10.0


def registry() -> dict[str, Provider]:
    from patron.messages.providers import aliyun, log, smtp, tencent, webhook, wechat

    providers: list[Provider] = [
        log.LogProvider(),
        aliyun.AliyunSms(),
        tencent.TencentSms(),
        smtp.SmtpEmail(),
        wechat.WeChatSubscribe(),
        webhook.WebhookChannel(),
    ]
    return {p.name: p for p in providers}


def template_code(template: MessageTemplate | None) -> str:
    return template.provider_template if template is not None else ""


def sign_name(template: MessageTemplate | None, config: dict[str, str]) -> str:
    return (template.sign_name if template is not None else "") or config.get("sign_name", "")
