"""Unsubscribe links and replies: a signed token naming a member and a channel (an e-mail's
List-Unsubscribe URL, `{public_url}/u/<token>`), and the SMS replies that mean "stop" (回T退订)."""

from __future__ import annotations

import hmac

import jwt

from patron.core.settings import get_settings
from patron.members.models import ConsentChannel

SMS_STOP_WORDS = frozenset({"t", "td", "退订", "n", "unsubscribe", "stop"})
SMS_NOTICE = "回T退订"  # how a marketing SMS says to unsubscribe
_LABEL = b"patron/messages/unsubscribe"
_AUDIENCE = "patron/unsubscribe"
_ALGORITHM = "HS256"


def with_sms_notice(body: str) -> str:
    """A marketing SMS's body, ending with how to unsubscribe unless it says so already."""
    return body if SMS_NOTICE in body else body + SMS_NOTICE


def _key() -> bytes:
    """A key of its own for these tokens, derived from the secret key."""
    return hmac.digest(get_settings().secret_key.encode(), _LABEL, "sha256")


def token_for(member_id: int, channel: ConsentChannel) -> str:
    claims = {"sub": str(member_id), "channel": channel.value, "aud": _AUDIENCE}
    return jwt.encode(claims, _key(), algorithm=_ALGORITHM)


def read_token(token: str) -> tuple[int, ConsentChannel] | None:
    """The member and channel a token this module issued names; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            _key(),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["sub", "channel", "aud"]},
        )
    except jwt.InvalidTokenError:
        return None
    member, channel = str(claims["sub"]), str(claims["channel"])
    if not member.isdigit() or channel not in ConsentChannel.__members__:
        return None
    return int(member), ConsentChannel(channel)


def url_for(member_id: int, channel: ConsentChannel) -> str:
    return f"{get_settings().public_url.rstrip('/')}/u/{token_for(member_id, channel)}"


def means_stop(reply: str) -> bool:
    """An SMS reply asking to unsubscribe: T, TD, 退订 (any case, spaces and punctuation)."""
    word = "".join(ch for ch in reply.strip().lower() if ch.isalnum())
    return word in SMS_STOP_WORDS
