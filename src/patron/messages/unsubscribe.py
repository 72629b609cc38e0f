"""Unsubscribe links and replies: a signed token naming a member and a channel (an e-mail's
List-Unsubscribe URL, `{public_url}/u/<token>`), and the SMS replies that mean "stop" (回T退订)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from patron.core.settings import get_settings
from patron.members.models import ConsentChannel

SMS_STOP_WORDS = frozenset({"t", "td", "退订", "n", "unsubscribe", "stop"})
SMS_NOTICE = "回T退订"  # how a marketing SMS says to unsubscribe
_LABEL = b"patron/messages/unsubscribe"


def with_sms_notice(body: str) -> str:
    """A marketing SMS's body, ending with how to unsubscribe unless it says so already."""
    return body if SMS_NOTICE in body else body + SMS_NOTICE


def _key() -> bytes:
    return hmac.new(get_settings().secret_key.encode(), _LABEL, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_for(member_id: int, channel: ConsentChannel) -> str:
    payload = f"{member_id}:{channel.value}".encode()
    mac = hmac.new(_key(), payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(mac)}"


def read_token(token: str) -> tuple[int, ConsentChannel] | None:
    """The member and channel a token this module issued names; None for anything else."""
    head, _, tail = token.partition(".")
    try:
        payload, mac = _unb64(head), _unb64(tail)
    except (ValueError, binascii.Error):
        return None
    expected = hmac.new(_key(), payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        return None
    member, _, channel = payload.decode(errors="replace").partition(":")
    if not member.isdigit() or channel not in ConsentChannel.__members__:
        return None
    return int(member), ConsentChannel(channel)


def url_for(member_id: int, channel: ConsentChannel) -> str:
    return f"{get_settings().public_url.rstrip('/')}/u/{token_for(member_id, channel)}"


def means_stop(reply: str) -> bool:
    """An SMS reply asking to unsubscribe: T, TD, 退订 (any case, spaces and punctuation)."""
    word = "".join(ch for ch in reply.strip().lower() if ch.isalnum())
    return word in SMS_STOP_WORDS
