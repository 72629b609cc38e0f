"""Who may do what with the audit log."""

from patron.core.actor import Role
from patron.core.permissions import Permission

READ = Permission("audit.read", {Role.hq_admin, Role.hq_finance})
