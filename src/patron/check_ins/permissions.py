"""Who may do what with daily check-in (签到). Every staff role reads the program (a till can
tell a member what checking in gives); HQ admins and marketing set it. Staff read a member's
check-ins within their stores; the report is HQ's, chain-wide, and a regional or store manager's
for their stores' members. Only members check in, themselves (the member API and the /m/
page)."""

from patron.core.actor import HQ_ROLES, STAFF_ROLES, Role
from patron.core.permissions import Permission

VIEW_PROGRAM = Permission("check_ins.view_program", STAFF_ROLES)
EDIT_PROGRAM = Permission("check_ins.edit_program", {Role.hq_admin, Role.hq_marketing})
VIEW_MEMBER = Permission("check_ins.view_member", STAFF_ROLES)
VIEW_REPORT = Permission(
    "check_ins.view_report", {*HQ_ROLES, Role.regional_manager, Role.store_manager}
)
