"""The stored-value domain's errors."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound, PatronError


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    title = "Not enough stored value"


class BalanceCapExceeded(Conflict):
    code = "balance_cap_exceeded"
    title = "The recharge would take the balance over the cap"


class RealNameRequired(PatronError):
    status = 422
    code = "real_name_required"
    title = "A recharge this large needs the member's real name and ID number"


class PackageNotFound(NotFound):
    code = "package_not_found"
    title = "Recharge package not found"


class PackageNotAvailable(Conflict):
    code = "package_not_available"
    title = "The package is inactive or outside its validity window"


class PackageLimitReached(Conflict):
    code = "package_limit_reached"
    title = "The member has bought this package as often as it allows"


class RechargeNotFound(NotFound):
    code = "recharge_not_found"
    title = "Recharge not found"


class RechargeUsed(Conflict):
    code = "recharge_used"
    title = "Part of this recharge has been spent or moved; it cannot be refunded in full"


class CoolingOffOver(Conflict):
    code = "cooling_off_over"
    title = "The cooling-off period of this recharge is over"


class RechargeRefunded(Conflict):
    code = "recharge_refunded"
    title = "This recharge has been refunded already"


class NothingToRefund(Conflict):
    code = "nothing_to_refund"
    title = "The account holds no principal to pay out"


class VerificationRequired(PatronError):
    status = 422
    code = "verification_required"
    title = "Paying with stored value needs the member's code or payment password"


class VerificationFailed(PatronError):
    """Counted on the account: the count survives the refused request's rollback."""

    status = 422
    code = "verification_failed"
    title = "The member code or payment password is wrong"
    keeps_changes = True


class StoredValueLocked(PatronError):
    status = 423
    code = "stored_value_locked"
    title = "Stored-value payments are locked after repeated failed verifications"
    keeps_changes = True


class MemberCodeUsed(PatronError):
    """Not counted: the code is the member's own, shown again (a replay, not a guess)."""

    status = 422
    code = "member_code_used"
    title = "This member code has paid already; the member's app shows a new one each minute"


class NotHomeStore(PatronError):
    status = 403
    code = "not_home_store"
    title = "Only the member's home store or HQ sets the payment password"


class PackageCouponsUnavailable(Conflict):
    code = "package_coupons_unavailable"
    title = "The package's coupons cannot all be issued to this member (stock or limits)"
