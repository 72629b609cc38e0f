"""E-mail over SMTP (smtplib): plain text, with List-Unsubscribe and one-click
List-Unsubscribe-Post (RFC 8058) on marketing messages to members."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from patron.members.models import ConsentChannel
from patron.messages import unsubscribe
from patron.messages.errors import ProviderFailed
from patron.messages.kinds import Purpose
from patron.messages.models import Message, MessageTemplate
from patron.messages.providers import HTTP_TIMEOUT, ConfigField

SECURITY = ("starttls", "ssl", "none")


class SmtpEmail:
    name = "smtp"
    fields: tuple[ConfigField, ...] = (
        ConfigField("host"),
        ConfigField("port", required=False, default="587"),
        ConfigField("security", required=False, default="starttls"),  # starttls | ssl | none
        ConfigField("username", required=False),
        ConfigField("password", secret=True, required=False),
        ConfigField("from_address"),
    )

    def compose(self, message: Message, config: dict[str, str]) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = config["from_address"]
        mail["To"] = message.recipient or ""
        mail["Subject"] = message.subject or message.template_code
        domain = config["from_address"].rpartition("@")[2] or None
        mail["Message-ID"] = make_msgid(f"patron.{message.id}", domain=domain)
        if message.member_id is not None and message.purpose == Purpose.marketing.value:
            link = unsubscribe.url_for(message.member_id, ConsentChannel.email)
            mail["List-Unsubscribe"] = f"<{link}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message.body)
        return mail

    def send(
        self, message: Message, template: MessageTemplate | None, config: dict[str, str]
    ) -> str:
        mail = self.compose(message, config)
        security = config.get("security") or "starttls"
        host, port = config["host"], int(config.get("port") or 587)
        try:
            smtp: smtplib.SMTP
            if security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    host, port, timeout=HTTP_TIMEOUT, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(host, port, timeout=HTTP_TIMEOUT)
            with smtp:
                if security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if config.get("username"):
                    smtp.login(config["username"], config.get("password", ""))
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ProviderFailed("smtp: recipient refused", retry=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ProviderFailed(f"smtp: {type(exc).__name__}: {exc}"[:300]) from exc
        return str(mail["Message-ID"])
