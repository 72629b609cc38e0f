"""The webhook channel: a POST of the message as JSON to the configured URL, signed after the
Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature). The URL is
guarded as the webhooks' endpoints are (`patron.webhooks.urls`: no internal address unless
allowed), when saved and before each send, and sent with the same client."""

from __future__ import annotations

import http.client
import json

from patron.core import clock
from patron.core.settings import get_settings
from patron.messages.errors import ProviderFailed
from patron.messages.models import Message, MessageTemplate
from patron.messages.providers import HTTP_TIMEOUT, ConfigField
from patron.webhooks import delivery, urls


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
    fields: tuple[ConfigField, ...] = (
        ConfigField("url", url=True),
        ConfigField("secret", secret=True),
    )

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str:
        url = config["url"]
        problem, address = urls.resolve(url, urls.private_allowed(get_settings()))
        if problem is not None:
            raise ProviderFailed(f"webhook: refused: {problem}", retry=False)
        body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":"))
        msg_id = f"msg_{message.id}"
        headers = delivery.signed_headers(config["secret"], msg_id, body)
        try:
            code, _ = delivery.sender(HTTP_TIMEOUT).post(url, body.encode(), headers, address)
        except (OSError, http.client.HTTPException) as exc:
            raise ProviderFailed(f"webhook: {type(exc).__name__}") from exc
        if not 200 <= code < 300:
            raise ProviderFailed(f"webhook: HTTP {code}")
        return msg_id
