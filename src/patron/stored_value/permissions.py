"""Who may do what with stored value. Every role sees the balance and the statement of the
members in its stores; these need more."""

from patron.core.actor import Role
from patron.core.permissions import Permission

EDIT_PACKAGES = Permission("stored_value.edit_packages", {Role.hq_admin, Role.hq_marketing})
RECHARGE = Permission(
    "stored_value.recharge", {Role.hq_admin, Role.store_manager, Role.cashier, Role.integration}
)
# A cooling-off refund undoes one recharge, at the till where it was paid.
REFUND_RECHARGE = Permission(
    "stored_value.refund_recharge", {Role.hq_admin, Role.hq_finance, Role.store_manager}
)
# Paying out an account's principal closes the member's prepaid card.
REFUND_ACCOUNT = Permission("stored_value.refund_account", {Role.hq_admin, Role.hq_finance})
# Settlement and liability: HQ finance chain-wide, a regional or store manager their own stores'
# rows.
VIEW_FIGURES = Permission(
    "stored_value.view_figures",
    {Role.hq_admin, Role.hq_finance, Role.regional_manager, Role.store_manager},
)
# A manual correction of a member's principal or bonus, with its reason.
ADJUST = Permission("stored_value.adjust", {Role.hq_admin, Role.hq_finance})
# The member's payment password is set at the till, with the member there to type it.
SET_PASSWORD = Permission(
    "stored_value.set_password", {Role.hq_admin, Role.store_manager, Role.cashier}
)
