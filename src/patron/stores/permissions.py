"""Who may do what with stores. Every role sees the stores in its scope; these need more."""

from patron.core.actor import HQ_ROLES, Role
from patron.core.permissions import Permission

CREATE = Permission("stores.create", {Role.hq_admin})
# Editors without EDIT_ALL_FIELDS change only the fields in `service.MANAGER_EDITABLE`.
EDIT = Permission("stores.edit", {Role.hq_admin, Role.store_manager})
# Every field, the status (opening and closing a store) included.
EDIT_ALL_FIELDS = Permission("stores.edit_all_fields", {Role.hq_admin})
# Regions (区域): HQ reads them all, a regional manager their own; HQ admins group the stores.
VIEW_REGIONS = Permission("stores.view_regions", {*HQ_ROLES, Role.regional_manager})
MANAGE_REGIONS = Permission("stores.manage_regions", {Role.hq_admin})
