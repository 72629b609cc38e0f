"""The rate limits on asking for sign-in codes: per mobile (by its keyed hash) and per client
address, kept where the staff login's are (`PATRON_RATE_LIMIT_STORAGE`)."""

from __future__ import annotations

from dataclasses import dataclass

from patron.core.ratelimit import RateLimiter
from patron.core.settings import Settings
from patron.member_auth.errors import CodeSendTooSoon

RETRY_AFTER_SECONDS = 60


@dataclass
class CodeLimits:
    per_mobile: RateLimiter
    per_client: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> CodeLimits:
        return cls(
            RateLimiter(settings.rate_limit_storage, settings.member_code_rate),
            RateLimiter(settings.rate_limit_storage, settings.member_code_client_rate),
        )

    def check(self, mobile_key: str, client: str) -> None:
        """Count one ask; refused (the same answer for members and strangers) past a limit."""
        if not self.per_client.hit("member_code_client", client or "unknown"):
            raise CodeSendTooSoon("too many codes asked for from this address", RETRY_AFTER_SECONDS)
        if not self.per_mobile.hit("member_code_mobile", mobile_key):
            raise CodeSendTooSoon("too many codes asked for this mobile", RETRY_AFTER_SECONDS)


def code_limits(state: object, settings: Settings) -> CodeLimits:
    """The app's limits (made on first use, kept on the app's state)."""
    found = getattr(state, "member_code_limits", None)
    if not isinstance(found, CodeLimits):
        found = CodeLimits.from_settings(settings)
        setattr(state, "member_code_limits", found)  # noqa: B010
    return found
