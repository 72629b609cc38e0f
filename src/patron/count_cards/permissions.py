"""Who may do what with count cards. Every role reads the products (a till offers them) and the
cards of the members it may read; these need more. Selling, using and revoking happen at a till
of the caller's stores."""

from patron.core.actor import Role
from patron.core.permissions import Permission

EDIT_PRODUCTS = Permission("count_cards.edit_products", {Role.hq_admin, Role.hq_marketing})
SELL = Permission(
    "count_cards.sell", {Role.hq_admin, Role.store_manager, Role.cashier, Role.integration}
)
USE = Permission(
    "count_cards.use", {Role.hq_admin, Role.store_manager, Role.cashier, Role.integration}
)
# Undoing a use recorded by mistake, the same business day, at the store it was recorded in.
REVOKE_USE = Permission(
    "count_cards.revoke_use", {Role.hq_admin, Role.store_manager, Role.cashier, Role.integration}
)
