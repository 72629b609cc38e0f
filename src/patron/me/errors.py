"""The member's own API's errors."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound


class BirthdayAlreadySet(Conflict):
    """A member sets their birthday once (birthday gifts hang on it); staff may correct it."""

    code = "birthday_already_set"
    title = "The birthday is set already; ask a store to correct it"


class ConsentChannelNotFound(NotFound):
    code = "consent_channel_not_found"
    title = "No such consent channel (sms, email, wechat)"
