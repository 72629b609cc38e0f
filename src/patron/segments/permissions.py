"""Who may do what with segments.

HQ marketing and admins build and save segments chain-wide; regional managers, store managers and
guides may preview a rule and read saved segments too (a store's own outreach), and count and see
only their stores' members (their home store). Exporting a segment's members is for HQ admins,
marketing, regional and store managers; PII in the file is in clear only for those who may see it
(`members.privacy`)."""

from patron.core.actor import Role
from patron.core.permissions import Permission

READERS = (Role.hq_admin, Role.hq_marketing, Role.regional_manager, Role.store_manager)

PREVIEW = Permission("segments.preview", {*READERS, Role.guide})
VIEW = Permission("segments.view", {*READERS, Role.guide})
MANAGE = Permission("segments.manage", {Role.hq_admin, Role.hq_marketing})
EXPORT = Permission("segments.export", READERS)
