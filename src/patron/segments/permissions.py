"""Who may do what with segments.

HQ marketing and admins build and save segments chain-wide; store managers and guides may preview
a rule and read saved segments too (a store's own outreach), and count and see only their stores'
members (their home store). Exporting a segment's members is for HQ admins, marketing and store
managers; PII in the file is in clear only for those who may see it (`members.privacy`)."""

from patron.core.actor import Role
from patron.core.permissions import Permission

PREVIEW = Permission(
    "segments.preview", {Role.hq_admin, Role.hq_marketing, Role.store_manager, Role.guide}
)
VIEW = Permission(
    "segments.view", {Role.hq_admin, Role.hq_marketing, Role.store_manager, Role.guide}
)
MANAGE = Permission("segments.manage", {Role.hq_admin, Role.hq_marketing})
EXPORT = Permission("segments.export", {Role.hq_admin, Role.hq_marketing, Role.store_manager})
