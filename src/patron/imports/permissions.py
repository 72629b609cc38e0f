"""Who may see which imports. Starting one takes the permission of what it loads
(`members.IMPORT`, `orders.IMPORT`, `catalog.EDIT`); an import's record, with its report, is
seen by whoever started it and by these roles."""

from patron.core.actor import Role
from patron.core.permissions import Permission

READ_ALL = Permission("imports.read_all", {Role.hq_admin})
