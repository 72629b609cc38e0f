"""The profiles' errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import NotFound


class ClvNotFitted(NotFound):
    code = "clv_not_fitted"
    title = "No CLV model fitted yet"
