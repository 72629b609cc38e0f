"""Who may do what with the catalog: everyone reads it, merchandisers write it."""

from patron.core.actor import Role
from patron.core.permissions import Permission

# Categories and products, one by one or by import.
EDIT = Permission("catalog.edit", {Role.hq_admin, Role.hq_marketing})
