"""Provider callbacks: SMS replies. A reply meaning "stop" (T, TD, 退订) withdraws the member's
SMS consent through the members' consent service (source `sms_reply`)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from patron.core.actor import Actor, Role
from patron.members import consents
from patron.members.contacts import active_member_by_mobile
from patron.members.models import ConsentChannel
from patron.messages import channels, unsubscribe
from patron.messages.errors import InboundRefused
from patron.messages.kinds import Channel

SMS_REPLY = "sms_reply"
EMAIL_LINK = "email_unsubscribe"
# Who withdraws consent on a member's own request: the member, through a provider or a link.
MEMBER_REQUEST = Actor(
    kind="system", id=None, name="member request", role=Role.hq_admin, store_ids=None
)
MOBILE_KEYS = ("mobile", "phone_number", "phone", "PhoneNumber")
TEXT_KEYS = ("content", "text", "sms_content", "Content")


def check_token(session: Session, given: str | None) -> None:
    """The SMS channel's inbound token, set with its provider; refused when unset."""
    setting = channels.get_setting(session, Channel.sms)
    expected = channels.config_of(setting).get("inbound_token", "") if setting else ""
    if not expected or not given or not hmac.compare_digest(given, expected):
        raise InboundRefused()


def replies(payload: Any) -> Iterable[tuple[str, str]]:
    """(mobile, text) of each reply in a callback body: one object or a list of them, with
    the field names Alibaba Cloud (phone_number, content), Tencent Cloud (mobile, text) or a
    plain gateway (mobile, content) use."""
    items = payload if isinstance(payload, list) else [payload]
    for item in items[:1000]:
        if not isinstance(item, Mapping):
            continue
        mobile = next((str(item[k]) for k in MOBILE_KEYS if item.get(k)), "")
        text = next((str(item[k]) for k in TEXT_KEYS if item.get(k)), "")
        if mobile and text:
            yield mobile, text


def handle_sms_replies(session: Session, payload: Any) -> int:
    """Withdraw SMS consent for each stop reply; answers how many members it unsubscribed."""
    done = 0
    for mobile, text in replies(payload):
        if not unsubscribe.means_stop(text):
            continue
        member_id = active_member_by_mobile(session, mobile)
        if member_id is None:
            continue
        consents.set_consent(
            session, MEMBER_REQUEST, member_id, ConsentChannel.sms, False, SMS_REPLY
        )
        done += 1
    return done


def unsubscribe_by_token(session: Session, token: str) -> tuple[int, ConsentChannel] | None:
    found = unsubscribe.read_token(token)
    if found is None:
        return None
    member_id, channel = found
    if consents.has_consent(session, member_id, channel):
        consents.set_consent(session, MEMBER_REQUEST, member_id, channel, False, EMAIL_LINK)
    return found
