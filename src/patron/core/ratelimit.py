"""Rate limits on a moving window, in memory or in Redis when several processes serve."""

from __future__ import annotations

import logging

from limits import RateLimitItem, parse, storage, strategies

log = logging.getLogger("patron.ratelimit")


class RateLimiter:
    def __init__(self, storage_uri: str, rate: str) -> None:
        self._limit: RateLimitItem = parse(rate)
        self._strategy = strategies.MovingWindowRateLimiter(
            storage.storage_from_string(storage_uri)
        )

    def hit(self, *key: str) -> bool:
        """Count one attempt for `key`; False when the key is over its limit.

        When the counter store (Redis) does not answer, the attempt is let through and the
        failure logged: staff can still sign in, and the per-account lockout still holds."""
        try:
            return self._strategy.hit(self._limit, *key)
        except Exception:  # the storage's own connection errors, whichever backend
            log.exception("rate-limit storage unavailable; attempt allowed")
            return True

    def reset(self) -> None:
        self._strategy.storage.reset()
