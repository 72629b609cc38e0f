"""The development provider: it writes each message as one JSON log line (its id, channel,
template and masked recipient; the body, which may name the member or carry a sign-in code,
outside production only, so that a developer can sign in as a demo member) and calls it sent."""

from __future__ import annotations

import logging

from patron.core.settings import get_settings
from patron.messages.models import Message, MessageTemplate
from patron.messages.providers import INBOUND_TOKEN, ConfigField

logger = logging.getLogger("patron.messages")


class LogProvider:
    name = "log"
    fields: tuple[ConfigField, ...] = (INBOUND_TOKEN,)

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str:
        production = get_settings().env == "production"
        line: dict[str, object] = {
            "message_id": message.id,
            "channel": message.channel,
            "template": message.template_code,
            "recipient": message.recipient_masked,
        }
        if production:
            line["body_chars"] = len(message.body)
        else:
            line["body"] = message.body
        logger.info(
            "message %s (%s, %s) to %s: %s",
            message.id,
            message.channel,
            message.template_code,
            message.recipient_masked,
            f"{len(message.body)} characters" if production else message.body,
            extra=line,
        )
        return f"log-{message.id}"
