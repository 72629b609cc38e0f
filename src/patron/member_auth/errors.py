"""Member sign-in's errors. None of them tells whether a mobile belongs to a member, except
`registration_required`, which is answered only to whoever proved the code sent to it."""

from __future__ import annotations

from patron.core.errors import Forbidden, NotFound, PatronError, RateLimited


class CodeSendTooSoon(RateLimited):
    """A code was sent to this mobile less than the resend interval ago, or the mobile (or the
    client address) asked for too many codes: the same answer for members and strangers."""

    code = "code_send_limited"
    title = "Too many codes asked for; wait before asking again"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class CodeInvalid(PatronError):
    status = 401
    code = "code_invalid"
    title = "Wrong or expired code"
    keeps_changes = True  # the failure counts toward the lock


class SignInLocked(RateLimited):
    code = "sign_in_locked"
    title = "Too many wrong codes; this mobile is locked for a while"
    keeps_changes = True

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class RegistrationRequired(NotFound):
    """The code was right but no member holds the mobile: register it (with consent)."""

    code = "registration_required"
    title = "No member holds this mobile; register it"
    keeps_changes = True  # the code stays good for the registration


class MemberInactive(Forbidden):
    code = "member_inactive"
    title = "This membership is not active"
