"""Who may do what with staff accounts. Everyone sees their own account; these need more."""

from patron.core.actor import Role
from patron.core.permissions import Permission

# Others who manage staff are confined to `service.MANAGED_BY_STORE_MANAGER` in their own stores.
MANAGE = Permission("staff.manage", {Role.hq_admin, Role.store_manager})
# Any role in any store, and all stores at once (as HQ roles need).
MANAGE_ANY = Permission("staff.manage_any", {Role.hq_admin})
