"""Who may do what with API keys."""

from patron.core.actor import Role
from patron.core.permissions import Permission

MANAGE = Permission("apikeys.manage", {Role.hq_admin})
