"""Who may do what with messages."""

from patron.core.actor import Role
from patron.core.permissions import Permission

# The delivery log and the templates, read.
VIEW = Permission("messages.view", {Role.hq_admin, Role.hq_marketing})
# One message to one member, by hand (a marketing or service message through its template).
SEND = Permission("messages.send", {Role.hq_admin, Role.hq_marketing})
EDIT_TEMPLATES = Permission("messages.edit_templates", {Role.hq_admin, Role.hq_marketing})
# Providers and their keys, and test sends.
MANAGE_CHANNELS = Permission("messages.manage_channels", {Role.hq_admin})
