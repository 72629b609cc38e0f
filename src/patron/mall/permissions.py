"""Who may do what in the points mall. Every staff role and integration reads the items; HQ
marketing and admins manage them. Staff and integrations redeem for a member (a till, the
service desk); store staff hand over the products picked up at their stores and see those
redemptions; HQ ships deliveries. Cancelling (points and stock back): HQ and store managers."""

from patron.core.actor import Role
from patron.core.permissions import Permission

MANAGE_ITEMS = Permission("mall.manage_items", {Role.hq_admin, Role.hq_marketing})
REDEEM = Permission(
    "mall.redeem",
    {Role.hq_admin, Role.hq_marketing, Role.store_manager, Role.cashier, Role.integration},
)
FULFIL = Permission(
    "mall.fulfil", {Role.hq_admin, Role.hq_marketing, Role.store_manager, Role.cashier}
)
CANCEL = Permission("mall.cancel", {Role.hq_admin, Role.hq_marketing, Role.store_manager})
