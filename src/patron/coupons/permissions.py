"""Who may do what with coupons.

Every role reads templates (a till shows what a coupon gives) and the coupons of the members it
may read. HQ marketing and admins design templates. Issuing, voiding and gifting are done by HQ
marketing and admins chain-wide, and by store managers for the members registered at their own
stores (a store's own promotion): the services refuse other members as `member_not_found`, as
any store-scoped read of a member does. Cashiers and integrations (the POS, the member app) may
transfer a coupon on the member's behalf: gifting is the member's own act."""

from patron.core.actor import HQ_ROLES, STAFF_ROLES, Role
from patron.core.permissions import Permission

VIEW = Permission("coupons.view", (*STAFF_ROLES, Role.integration))
EDIT_TEMPLATES = Permission("coupons.edit_templates", {Role.hq_admin, Role.hq_marketing})
ISSUE = Permission("coupons.issue", {Role.hq_admin, Role.hq_marketing, Role.store_manager})
VOID = Permission("coupons.void", {Role.hq_admin, Role.hq_marketing, Role.store_manager})
TRANSFER = Permission(
    "coupons.transfer",
    {Role.hq_admin, Role.hq_marketing, Role.store_manager, Role.cashier, Role.integration},
)
# The templates' report: HQ chain-wide, regional and store managers for their own stores.
VIEW_REPORT = Permission(
    "coupons.view_report", {*HQ_ROLES, Role.regional_manager, Role.store_manager}
)
