"""Who may see and run the schedule: HQ reads each job's cadence and runs; HQ admins run a job
by hand."""

from patron.core.actor import HQ_ROLES, Role
from patron.core.permissions import Permission

VIEW = Permission("schedule.view", HQ_ROLES)
RUN = Permission("schedule.run", {Role.hq_admin})
