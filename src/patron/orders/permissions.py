"""Who may do what with orders. Every role reads the orders of its stores; these need more."""

from patron.core.actor import Role
from patron.core.permissions import Permission

TILL_ROLES = (Role.hq_admin, Role.store_manager, Role.cashier, Role.integration)

RECORD = Permission("orders.record", TILL_ROLES)
REFUND = Permission("orders.refund", TILL_ROLES)
IMPORT = Permission("orders.import", {Role.hq_admin})
