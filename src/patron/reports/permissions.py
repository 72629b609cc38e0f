"""Who may read the reports: HQ chain-wide, store managers their own stores (every report is
scoped to the reader's stores)."""

from patron.core.actor import HQ_ROLES, Role
from patron.core.permissions import Permission

VIEW = Permission("reports.view", {*HQ_ROLES, Role.store_manager})
