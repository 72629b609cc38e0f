"""The member's own API's errors."""

from __future__ import annotations

from patron.core.errors import Conflict


class BirthdayAlreadySet(Conflict):
    """A member sets their birthday once (birthday gifts hang on it); staff may correct it."""

    code = "birthday_already_set"
    title = "The birthday is set already; ask a store to correct it"
