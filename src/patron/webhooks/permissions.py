"""Who may do what with webhooks: HQ administrators only (an endpoint receives every store's
events)."""

from patron.core.actor import Role
from patron.core.permissions import Permission

MANAGE = Permission("webhooks.manage", {Role.hq_admin})
