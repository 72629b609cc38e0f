"""Which console controls a role gets.

The role guards mirror the API routes' `require(...)` dependencies; the services then apply the
store scope exactly as they do for the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from patron.core.actor import STAFF_ROLES, Actor, Role
from patron.staff.models import StaffUser
from patron.staff.service import MANAGED_BY_STORE_MANAGER
from patron.stores.service import MANAGER_EDITABLE

STORE_CREATORS = (Role.hq_admin,)
STORE_EDITORS = (Role.hq_admin, Role.store_manager)
# Opening and closing is a status change, which the store service leaves to HQ admins.
STATUS_CHANGERS = (Role.hq_admin,)
STAFF_MANAGERS = (Role.hq_admin, Role.store_manager)
STORE_FIELDS = ("name", "type", "city", "address", "phone")


@dataclass(frozen=True)
class Permissions:
    create_store: bool
    edit_store: bool
    change_store_status: bool
    manage_staff: bool
    # Giving a staff user every store (as HQ roles need) is for HQ admins only.
    grant_all_stores: bool

    @classmethod
    def of(cls, actor: Actor) -> Permissions:
        return cls(
            create_store=actor.has_role(*STORE_CREATORS),
            edit_store=actor.has_role(*STORE_EDITORS),
            change_store_status=actor.has_role(*STATUS_CHANGERS),
            manage_staff=actor.has_role(*STAFF_MANAGERS),
            grant_all_stores=actor.has_role(Role.hq_admin),
        )


def editable_store_fields(actor: Actor) -> tuple[str, ...]:
    if actor.has_role(Role.hq_admin):
        return STORE_FIELDS
    return tuple(field for field in STORE_FIELDS if field in MANAGER_EDITABLE)


def assignable_roles(actor: Actor) -> tuple[Role, ...]:
    if actor.has_role(Role.hq_admin):
        return STAFF_ROLES
    return MANAGED_BY_STORE_MANAGER if actor.has_role(Role.store_manager) else ()


def can_edit_staff(actor: Actor, user: StaffUser) -> bool:
    return Role(user.role) in assignable_roles(actor)
