"""Who may do what with journeys: HQ marketing and admins build and run them; store managers
read them (and their reports) for their stores' outreach, as regional managers do."""

from patron.core.actor import Role
from patron.core.permissions import Permission

VIEW = Permission(
    "journeys.view",
    {Role.hq_admin, Role.hq_marketing, Role.regional_manager, Role.store_manager},
)
MANAGE = Permission("journeys.manage", {Role.hq_admin, Role.hq_marketing})
