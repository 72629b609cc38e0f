"""Who may do what with points. Every role reads the earning policy, previews an order, and sees
the balance and the ledger of the members in its stores; these need more."""

from patron.core.actor import HQ_ROLES, Role
from patron.core.permissions import Permission

# The program as HQ keeps it: the rules and the queue of adjustments awaiting approval.
VIEW_PROGRAM = Permission("points.view_program", HQ_ROLES)
EDIT_POLICY = Permission("points.edit_policy", {Role.hq_admin})
EDIT_RULES = Permission("points.edit_rules", {Role.hq_admin, Role.hq_marketing})
BURN = Permission(
    "points.burn", {Role.hq_admin, Role.store_manager, Role.cashier, Role.integration}
)
REQUEST_ADJUSTMENT = Permission(
    "points.request_adjustment", {Role.hq_admin, Role.hq_marketing, Role.store_manager}
)
# A large adjustment waits for a second HQ user with this permission.
DECIDE_ADJUSTMENT = Permission("points.decide_adjustment", {Role.hq_admin, Role.hq_finance})
VIEW_LIABILITY = Permission("points.view_liability", {Role.hq_admin, Role.hq_finance})
