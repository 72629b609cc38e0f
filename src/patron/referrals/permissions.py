"""Who may do what with referrals. HQ reads the program, its report and its list; HQ admin and
marketing set the program; staff at the counter record a new member's referrer."""

from patron.core.actor import HQ_ROLES, Role
from patron.core.permissions import Permission

VIEW = Permission("referrals.view", HQ_ROLES)
EDIT_PROGRAM = Permission("referrals.edit_program", {Role.hq_admin, Role.hq_marketing})
RECORD = Permission(
    "referrals.record",
    {Role.hq_admin, Role.hq_marketing, Role.store_manager, Role.cashier, Role.guide},
)
