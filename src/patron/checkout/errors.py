"""The checkout's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound


class QuoteNotFound(NotFound):
    code = "quote_not_found"
    title = "Quote not found"


class QuoteExpired(Conflict):
    code = "quote_expired"
    title = "The quote has expired: ask for a new one"


class QuoteUsed(Conflict):
    code = "quote_used"
    title = "The quote was committed already"


class QuoteStale(Conflict):
    """The basket prices differently now (a balance or a coupon changed): nothing was written
    but the fresh quote, which the problem carries as `quote`."""

    code = "quote_stale"
    title = "The quote no longer holds: here is the fresh one"
    keeps_changes = True
