"""The webhook channel: a POST of the message as JSON to the configured URL, signed after the
Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

import json

import httpx2
from standardwebhooks.webhooks import Webhook

from patron.core import clock
from patron.messages.errors import ProviderFailed
from patron.messages.models import Message, MessageTemplate
from patron.messages.providers import HTTP_TIMEOUT, ConfigField


def payload(message: Message) -> dict[str, object]:
    return {
        "type": "message.sent",
        "timestamp": clock.now().isoformat(),
        "data": {
            "id": message.id,
            "member_id": message.member_id,
            "template_code": message.template_code,
            "purpose": message.purpose,
            "subject": message.subject,
            "body": message.body,
            "variables": message.variables,
        },
    }


class WebhookChannel:
    name = "webhook"
    fields: tuple[ConfigField, ...] = (ConfigField("url"), ConfigField("secret", secret=True))

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str:
        body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":"))
        msg_id = f"msg_{message.id}"
        moment = clock.now()
        signature = Webhook(config["secret"]).sign(msg_id, moment, body)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature,
        }
        try:
            response = httpx2.post(
                config["url"], content=body.encode(), headers=headers, timeout=HTTP_TIMEOUT
            )
        except httpx2.HTTPError as exc:
            raise ProviderFailed(f"webhook: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise ProviderFailed(f"webhook: HTTP {response.status_code}")
        return msg_id
