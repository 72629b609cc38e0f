"""The development provider: it logs the message (recipient masked; the body, which may name the
member or carry a code, outside production only) and calls it sent."""

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
        logger.info(
            "message %s (%s, %s) to %s: %s",
            message.id,
            message.channel,
            message.template_code,
            message.recipient_masked,
            message.body
            if get_settings().env != "production"
            else f"{len(message.body)} characters",
        )
        return f"log-{message.id}"
