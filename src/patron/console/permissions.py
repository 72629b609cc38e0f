"""Which console controls a role gets: each flag is a permission its domain declares.

The pages check the same permissions; the services then apply the store scope exactly as they do
for the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from patron.campaigns import permissions as campaign_policy
from patron.catalog import permissions as catalog_policy
from patron.core.actor import STAFF_ROLES, Actor, Role
from patron.core.permissions import Permission
from patron.coupons import permissions as coupon_policy
from patron.journeys import permissions as journey_policy
from patron.members import permissions as member_policy
from patron.messages import permissions as message_policy
from patron.orders import permissions as order_policy
from patron.points import permissions as points_policy
from patron.referrals import permissions as referral_policy
from patron.reports import permissions as report_policy
from patron.schedule import permissions as schedule_policy
from patron.segments import permissions as segment_policy
from patron.staff import permissions as staff_policy
from patron.staff.models import StaffUser
from patron.staff.service import MANAGED_BY_STORE_MANAGER
from patron.stores import permissions as store_policy
from patron.stores.service import MANAGER_EDITABLE
from patron.tags import permissions as tag_policy
from patron.webhooks import permissions as webhook_policy

STORE_FIELDS = ("name", "type", "city", "address", "phone")


def _flag(permission: Permission) -> Any:
    return field(metadata={"permission": permission})


@dataclass(frozen=True)
class Permissions:
    create_store: bool = _flag(store_policy.CREATE)
    edit_store: bool = _flag(store_policy.EDIT)
    # Opening and closing is a status change, which only an editor of every field may make.
    change_store_status: bool = _flag(store_policy.EDIT_ALL_FIELDS)
    view_regions: bool = _flag(store_policy.VIEW_REGIONS)
    manage_regions: bool = _flag(store_policy.MANAGE_REGIONS)
    manage_staff: bool = _flag(staff_policy.MANAGE)
    # Giving a staff user every store (as HQ roles need).
    grant_all_stores: bool = _flag(staff_policy.MANAGE_ANY)
    write_members: bool = _flag(member_policy.WRITE)
    assign_guides: bool = _flag(member_policy.ASSIGN_GUIDES)
    merge_members: bool = _flag(member_policy.MERGE)
    export_members: bool = _flag(member_policy.EXPORT)
    erase_members: bool = _flag(member_policy.ERASE)
    import_members: bool = _flag(member_policy.IMPORT)
    # The member's staff flag (no tier discount unless the tier program allows it).
    flag_staff: bool = _flag(member_policy.FLAG_STAFF)
    view_attributes: bool = _flag(member_policy.BROWSE_ATTRIBUTES)
    edit_attributes: bool = _flag(member_policy.EDIT_ATTRIBUTES)
    # The cashier's screen (收银): a sale priced and committed through the checkout.
    record_orders: bool = _flag(order_policy.RECORD)
    refund_orders: bool = _flag(order_policy.REFUND)
    import_orders: bool = _flag(order_policy.IMPORT)
    edit_catalog: bool = _flag(catalog_policy.EDIT)
    view_points: bool = _flag(points_policy.VIEW_PROGRAM)
    edit_points_policy: bool = _flag(points_policy.EDIT_POLICY)
    edit_points_rules: bool = _flag(points_policy.EDIT_RULES)
    adjust_points: bool = _flag(points_policy.REQUEST_ADJUSTMENT)
    approve_points: bool = _flag(points_policy.DECIDE_ADJUSTMENT)
    view_liability: bool = _flag(points_policy.VIEW_LIABILITY)
    view_coupons: bool = _flag(coupon_policy.VIEW)
    edit_coupon_templates: bool = _flag(coupon_policy.EDIT_TEMPLATES)
    issue_coupons: bool = _flag(coupon_policy.ISSUE)
    void_coupons: bool = _flag(coupon_policy.VOID)
    transfer_coupons: bool = _flag(coupon_policy.TRANSFER)
    view_schedule: bool = _flag(schedule_policy.VIEW)
    run_jobs: bool = _flag(schedule_policy.RUN)
    view_messages: bool = _flag(message_policy.VIEW)
    edit_message_templates: bool = _flag(message_policy.EDIT_TEMPLATES)
    manage_message_channels: bool = _flag(message_policy.MANAGE_CHANNELS)
    manage_webhooks: bool = _flag(webhook_policy.MANAGE)
    view_journeys: bool = _flag(journey_policy.VIEW)
    manage_journeys: bool = _flag(journey_policy.MANAGE)
    view_segments: bool = _flag(segment_policy.VIEW)
    manage_segments: bool = _flag(segment_policy.MANAGE)
    export_segments: bool = _flag(segment_policy.EXPORT)
    view_campaigns: bool = _flag(campaign_policy.VIEW)
    manage_campaigns: bool = _flag(campaign_policy.MANAGE)
    tag_members: bool = _flag(tag_policy.TAG_MEMBERS)
    bulk_tags: bool = _flag(tag_policy.BULK)
    manage_tags: bool = _flag(tag_policy.MANAGE)
    view_referrals: bool = _flag(referral_policy.VIEW)
    view_reports: bool = _flag(report_policy.VIEW)

    @classmethod
    def of(cls, actor: Actor) -> Permissions:
        return cls(**{flag: permission.allows(actor) for flag, permission in flags().items()})


def flags() -> dict[str, Permission]:
    """Each console flag and the permission it shows."""
    return {flag.name: flag.metadata["permission"] for flag in fields(Permissions)}


def editable_store_fields(actor: Actor) -> tuple[str, ...]:
    if store_policy.EDIT_ALL_FIELDS.allows(actor):
        return STORE_FIELDS
    return tuple(name for name in STORE_FIELDS if name in MANAGER_EDITABLE)


def assignable_roles(actor: Actor) -> tuple[Role, ...]:
    if staff_policy.MANAGE_ANY.allows(actor):
        return STAFF_ROLES
    return MANAGED_BY_STORE_MANAGER if staff_policy.MANAGE.allows(actor) else ()


def can_edit_staff(actor: Actor, user: StaffUser) -> bool:
    return Role(user.role) in assignable_roles(actor)
