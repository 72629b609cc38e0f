"""Who may do what with tags. Every role reads the tags and a member's tags; these need more."""

from patron.core.actor import Role
from patron.core.permissions import Permission

# Tagging one member by hand (and untagging): whoever writes members, in their scope.
TAG_MEMBERS = Permission(
    "tags.tag_members",
    {
        Role.hq_admin,
        Role.hq_marketing,
        Role.store_manager,
        Role.cashier,
        Role.guide,
        Role.integration,
    },
)
# Tagging many members at once (a pasted list, a file): members outside the caller's stores are
# answered `not_found`, as one by one.
BULK = Permission("tags.bulk", {Role.hq_admin, Role.hq_marketing, Role.store_manager})
# Creating, renaming and describing tags, rule tags' rules, and refreshing them. A tag named on
# a member that does not exist yet is created only for these roles.
MANAGE = Permission("tags.manage", {Role.hq_admin, Role.hq_marketing})
