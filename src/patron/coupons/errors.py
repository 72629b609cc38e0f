"""The coupons domain's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound, PatronError


class TemplateNotFound(NotFound):
    code = "coupon_template_not_found"
    title = "Coupon template not found"


class CouponNotFound(NotFound):
    code = "coupon_not_found"
    title = "Coupon not found"


class TemplateNotActive(Conflict):
    code = "template_not_active"
    title = "The template is not active: only an active template issues coupons"


class TemplateExpired(Conflict):
    code = "template_expired"
    title = "The template's fixed validity has ended: its coupons could not be used"


class TemplateLocked(Conflict):
    """An issued template's value, scope and validity stay as its coupons were issued."""

    code = "template_locked"
    title = "Only the status, a higher stock, the name and the description of this template change"


class StatusChangeRefused(Conflict):
    code = "template_status_change"
    title = "The template cannot move to that status"


class CouponUnavailable(Conflict):
    """The coupon is redeemed, expired, void, or not the caller's member's."""

    code = "coupon_unavailable"
    title = "The coupon is not available"


class CouponNotTransferable(Conflict):
    code = "coupon_not_transferable"
    title = "This coupon's template does not allow giving it to another member"


class CouponNotApplicable(PatronError):
    """The coupon cannot take this much off this order (threshold, scope, amount, stacking)."""

    status = 422
    code = "coupon_not_applicable"
    title = "The coupon does not apply to this order"
