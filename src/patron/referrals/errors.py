"""The referral domain's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import Conflict, InvalidInput
from patron.core.reasons import Reason


class UnknownInviteCode(InvalidInput):
    """No member holds this invite code (422, field `code`, reason `unknown_invite_code`)."""

    def __init__(self, code: str) -> None:
        super().__init__(
            "code", f"no member holds the invite code {code!r}", code=Reason.unknown_invite_code
        )


class OwnInviteCode(InvalidInput):
    """The invitee is the code's holder (same member, same mobile)."""

    def __init__(self) -> None:
        super().__init__("code", "a member cannot invite themselves", code=Reason.own_invite_code)


class AlreadyReferred(Conflict):
    code = "already_referred"
    title = "The member was already referred: a member has one referrer"


class ReferralWindowOver(Conflict):
    code = "referral_window_over"
    title = "Too long since the member registered to record who referred them"


class ReferralProgramOff(Conflict):
    code = "referral_program_off"
    title = "The referral program is switched off"
