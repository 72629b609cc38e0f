"""Who may see what of profiles. A member's profile goes with the member: whoever may read the
member by id (patron.members.visibility) reads it, like the timeline. The chain-wide CLV model
is analytics, for HQ."""

from patron.core.actor import HQ_ROLES
from patron.core.permissions import Permission

ANALYTICS = Permission("profiles.analytics", set(HQ_ROLES))
