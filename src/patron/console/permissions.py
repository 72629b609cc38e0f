"""Which console controls a role gets.

The role guards mirror the API routes' `require(...)` dependencies; the services then apply the
store scope exactly as they do for the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from patron.core.actor import HQ_ROLES, STAFF_ROLES, Actor, Role
from patron.staff.models import StaffUser
from patron.staff.service import MANAGED_BY_STORE_MANAGER
from patron.stores.service import MANAGER_EDITABLE

STORE_CREATORS = (Role.hq_admin,)
STORE_EDITORS = (Role.hq_admin, Role.store_manager)
# Opening and closing is a status change, which the store service leaves to HQ admins.
STATUS_CHANGERS = (Role.hq_admin,)
STAFF_MANAGERS = (Role.hq_admin, Role.store_manager)
STORE_FIELDS = ("name", "type", "city", "address", "phone")
# Members, as src/patron/members/api.py guards them: every role may look members up; every role
# but HQ finance may register and edit them.
MEMBER_WRITERS = (
    Role.hq_admin,
    Role.hq_marketing,
    Role.store_manager,
    Role.cashier,
    Role.guide,
    Role.integration,
)
GUIDE_ASSIGNERS = (Role.hq_admin, Role.store_manager)
# Merge, PIPL export and erasure.
MEMBER_ADMINS = (Role.hq_admin,)
MEMBER_IMPORTERS = (Role.hq_admin, Role.store_manager)
# Anyone may read the attribute definitions; the console lists them to HQ, where they are kept.
ATTRIBUTE_VIEWERS = HQ_ROLES
ATTRIBUTE_EDITORS = (Role.hq_admin, Role.hq_marketing)
# Orders, as src/patron/orders/api.py guards them: every role reads the orders of its stores;
# the till roles refund (integrations too, but they have no console); only HQ admins import.
REFUNDERS = (Role.hq_admin, Role.store_manager, Role.cashier)
ORDER_IMPORTERS = (Role.hq_admin,)
# The catalog, as src/patron/catalog/api.py guards it: everyone reads, merchandisers write.
CATALOG_EDITORS = (Role.hq_admin, Role.hq_marketing)
# Points, as src/patron/points/api.py guards them: HQ reads the policy, the rules and the
# approval queue; only HQ admins change the policy; HQ admins and marketing program the rules;
# HQ admins, marketing and store managers ask for adjustments, which a second HQ admin or finance
# user approves when they are large; HQ admins and finance see the liability. Every role sees
# the balance and the ledger of the members in its stores.
POINTS_VIEWERS = HQ_ROLES
POLICY_EDITORS = (Role.hq_admin,)
RULE_EDITORS = (Role.hq_admin, Role.hq_marketing)
ADJUSTMENT_REQUESTERS = (Role.hq_admin, Role.hq_marketing, Role.store_manager)
ADJUSTMENT_APPROVERS = (Role.hq_admin, Role.hq_finance)
LIABILITY_VIEWERS = (Role.hq_admin, Role.hq_finance)


@dataclass(frozen=True)
class Permissions:
    create_store: bool
    edit_store: bool
    change_store_status: bool
    manage_staff: bool
    # Giving a staff user every store (as HQ roles need) is for HQ admins only.
    grant_all_stores: bool
    write_members: bool
    assign_guides: bool
    admin_members: bool
    import_members: bool
    view_attributes: bool
    edit_attributes: bool
    refund_orders: bool
    import_orders: bool
    edit_catalog: bool
    view_points: bool
    edit_points_policy: bool
    edit_points_rules: bool
    adjust_points: bool
    approve_points: bool
    view_liability: bool

    @classmethod
    def of(cls, actor: Actor) -> Permissions:
        return cls(
            create_store=actor.has_role(*STORE_CREATORS),
            edit_store=actor.has_role(*STORE_EDITORS),
            change_store_status=actor.has_role(*STATUS_CHANGERS),
            manage_staff=actor.has_role(*STAFF_MANAGERS),
            grant_all_stores=actor.has_role(Role.hq_admin),
            write_members=actor.has_role(*MEMBER_WRITERS),
            assign_guides=actor.has_role(*GUIDE_ASSIGNERS),
            admin_members=actor.has_role(*MEMBER_ADMINS),
            import_members=actor.has_role(*MEMBER_IMPORTERS),
            view_attributes=actor.has_role(*ATTRIBUTE_VIEWERS),
            edit_attributes=actor.has_role(*ATTRIBUTE_EDITORS),
            refund_orders=actor.has_role(*REFUNDERS),
            import_orders=actor.has_role(*ORDER_IMPORTERS),
            edit_catalog=actor.has_role(*CATALOG_EDITORS),
            view_points=actor.has_role(*POINTS_VIEWERS),
            edit_points_policy=actor.has_role(*POLICY_EDITORS),
            edit_points_rules=actor.has_role(*RULE_EDITORS),
            adjust_points=actor.has_role(*ADJUSTMENT_REQUESTERS),
            approve_points=actor.has_role(*ADJUSTMENT_APPROVERS),
            view_liability=actor.has_role(*LIABILITY_VIEWERS),
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
