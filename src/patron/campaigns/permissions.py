"""Who may do what with campaigns.

A campaign draws its audience chain-wide and moves value (coupons, points, messages) to it:
HQ marketing and admins build, launch and cancel them; HQ finance reads them (their cost).
Store staff may neither launch one nor read its members (other stores' members among them)."""

from patron.core.actor import Role
from patron.core.permissions import Permission

VIEW = Permission("campaigns.view", {Role.hq_admin, Role.hq_marketing, Role.hq_finance})
MANAGE = Permission("campaigns.manage", {Role.hq_admin, Role.hq_marketing})
