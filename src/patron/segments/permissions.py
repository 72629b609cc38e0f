"""Who may do what with segments.

HQ marketing and admins build segments chain-wide; store managers and guides may preview a rule
too (a store's own outreach), and count only their stores' members (their home store)."""

from patron.core.actor import Role
from patron.core.permissions import Permission

PREVIEW = Permission(
    "segments.preview", {Role.hq_admin, Role.hq_marketing, Role.store_manager, Role.guide}
)
