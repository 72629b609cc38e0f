"""Rate limits on a moving window, in memory or in Redis when several processes serve."""

from __future__ import annotations

from limits import RateLimitItem, parse, storage, strategies


class RateLimiter:
    def __init__(self, storage_uri: str, rate: str) -> None:
        self._limit: RateLimitItem = parse(rate)
        self._strategy = strategies.MovingWindowRateLimiter(
            storage.storage_from_string(storage_uri)
        )

    def hit(self, *key: str) -> bool:
        """Count one attempt for `key`; False when the key is over its limit."""
        return self._strategy.hit(self._limit, *key)

    def reset(self) -> None:
        self._strategy.storage.reset()
