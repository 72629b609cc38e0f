"""Who may read the reports: HQ chain-wide, regional managers their regions' stores, store
managers their own stores (every report is scoped to the reader's stores)."""

from patron.core.actor import HQ_ROLES, Role
from patron.core.permissions import Permission

VIEW = Permission("reports.view", {*HQ_ROLES, Role.regional_manager, Role.store_manager})
