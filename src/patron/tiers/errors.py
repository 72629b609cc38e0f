"""The tiers domain's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import NotFound


class TierNotFound(NotFound):
    code = "tier_not_found"
    title = "Tier not found"
