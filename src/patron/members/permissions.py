"""Who may do what with members. Every role looks members up; these need more."""

from patron.core.actor import HQ_ROLES, Role
from patron.core.permissions import Permission

# Registering and editing members, their identities and consents: every role but HQ finance.
WRITE = Permission(
    "members.write",
    {
        Role.hq_admin,
        Role.hq_marketing,
        Role.store_manager,
        Role.cashier,
        Role.guide,
        Role.integration,
    },
)
ASSIGN_GUIDES = Permission("members.assign_guides", {Role.hq_admin, Role.store_manager})
IMPORT = Permission("members.import", {Role.hq_admin, Role.store_manager})
MERGE = Permission("members.merge", {Role.hq_admin})
# Flagging a member as the chain's staff (no tier discount by default).
FLAG_STAFF = Permission("members.flag_staff", {Role.hq_admin})
# The PIPL copy of everything held about a member, in clear.
EXPORT = Permission("members.export", {Role.hq_admin})
ERASE = Permission("members.erase", {Role.hq_admin})
EDIT_ATTRIBUTES = Permission("members.edit_attributes", {Role.hq_admin, Role.hq_marketing})
# Anyone reads the attribute definitions through the API (the till needs them); the console
# lists them to HQ, where they are kept.
BROWSE_ATTRIBUTES = Permission("members.browse_attributes", HQ_ROLES)
