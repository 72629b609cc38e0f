"""The check-in domain's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import Conflict


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    title = "Already checked in today"


class CheckInClosed(Conflict):
    code = "check_in_closed"
    title = "Daily check-in is turned off"
