"""Who may do what with growth value and tiers. Every staff role and integration reads the
program, the ladder and the tiers of the members it may read (a till shows the tier and its
discount). HQ admins set the program and a member's tier by hand; HQ marketing and admins design
the ladder. The tier distribution is one of the reports, read by whoever reads the reports
(`reports.permissions.VIEW`)."""

from patron.core.actor import STAFF_ROLES, Role
from patron.core.permissions import Permission

VIEW = Permission("tiers.view", (*STAFF_ROLES, Role.integration))
EDIT_PROGRAM = Permission("tiers.edit_program", {Role.hq_admin})
EDIT_LADDER = Permission("tiers.edit_ladder", {Role.hq_admin, Role.hq_marketing})
SET_TIER = Permission("tiers.set_tier", {Role.hq_admin})
VIEW_PROGRAM = Permission("tiers.view_program", STAFF_ROLES)
