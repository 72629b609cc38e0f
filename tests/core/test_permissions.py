"""Each domain declares who may do what once, in its `permissions` module; every API route is guarded by
one of those declarations (or by signing in alone), and admits exactly the roles it names."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

import patron
from patron.apikeys import permissions as apikeys
from patron.app import create_app
from patron.audit import permissions as audit
from patron.campaigns import permissions as campaigns
from patron.catalog import permissions as catalog
from patron.check_ins import permissions as check_ins
from patron.console.permissions import flags
from patron.core.actor import Actor, Role
from patron.core.errors import Forbidden
from patron.core.permissions import Permission
from patron.core.settings import Settings
from patron.count_cards import permissions as count_cards
from patron.coupons import permissions as coupons
from patron.deps import Guard, current_actor, current_member
from patron.imports import permissions as imports
from patron.journeys import permissions as journeys
from patron.mall import permissions as mall
from patron.members import permissions as members
from patron.messages import permissions as messages
from patron.orders import permissions as orders
from patron.points import permissions as points
from patron.profiles import permissions as profiles
from patron.referrals import permissions as referrals
from patron.reports import permissions as reports
from patron.schedule import permissions as schedule
from patron.segments import permissions as segments
from patron.staff import permissions as staff
from patron.stored_value import permissions as stored_value
from patron.stores import permissions as stores
from patron.tags import permissions as tags
from patron.tiers import paid
from patron.tiers import permissions as tiers
from patron.webhooks import permissions as webhooks

PUBLIC = {
    "POST /auth/token",
    "POST /messages/inbound/sms",
    "POST /member-auth/code",
    "POST /member-auth/token",
    "POST /member-auth/register",
}
# The member's own routes: the member token (`current_member`), never a staff actor.
MEMBER_ROUTES = {
    "GET /me",
    "PATCH /me",
    "PUT /me/consents/{channel}",
    "GET /me/points",
    "GET /me/coupons",
    "POST /me/coupons/{code}/transfer",
    "GET /me/orders",
    "GET /me/tier",
    "GET /me/stored-value",
    "GET /me/count-cards",
    "POST /me/code",
    "GET /me/export",
    "POST /me/erasure",
    "GET /me/mall/items",
    "GET /me/mall/redemptions",
    "POST /me/mall/redemptions",
    "POST /me/check-ins",
    "GET /me/check-ins",
    "GET /me/referral",
}
# The permission guarding each route; None where signing in is enough.
GUARDS: dict[str, Permission | None] = {
    "GET /campaigns/{campaign_id}/report": campaigns.VIEW,
    "POST /segments/preview": segments.PREVIEW,
    "GET /segments": segments.VIEW,
    "POST /segments": segments.MANAGE,
    "GET /segments/{segment_id}": segments.VIEW,
    "PATCH /segments/{segment_id}": segments.MANAGE,
    "DELETE /segments/{segment_id}": segments.MANAGE,
    "GET /segments/{segment_id}/members": segments.VIEW,
    "GET /segments/{segment_id}/counts": segments.VIEW,
    "POST /segments/{segment_id}/refresh": segments.MANAGE,
    "GET /segments/{segment_id}/export": segments.EXPORT,
    "POST /campaigns/preview": campaigns.MANAGE,
    "POST /campaigns": campaigns.MANAGE,
    "GET /campaigns": campaigns.VIEW,
    "GET /campaigns/{campaign_id}": campaigns.VIEW,
    "PATCH /campaigns/{campaign_id}": campaigns.MANAGE,
    "POST /campaigns/{campaign_id}/launch": campaigns.MANAGE,
    "POST /campaigns/{campaign_id}/cancel": campaigns.MANAGE,
    "GET /campaigns/{campaign_id}/members": campaigns.VIEW,
    "GET /messages": messages.VIEW,
    "POST /messages": messages.SEND,
    "GET /message-templates": messages.VIEW,
    "POST /message-templates": messages.EDIT_TEMPLATES,
    "GET /message-templates/{template_id}": messages.VIEW,
    "PATCH /message-templates/{template_id}": messages.EDIT_TEMPLATES,
    "DELETE /message-templates/{template_id}": messages.EDIT_TEMPLATES,
    "GET /message-channels/{channel}": messages.MANAGE_CHANNELS,
    "PUT /message-channels/{channel}": messages.MANAGE_CHANNELS,
    "POST /message-channels/{channel}/test": messages.MANAGE_CHANNELS,
    "POST /auth/logout": None,
    "GET /auth/me": None,
    "GET /stores": None,
    "POST /stores": stores.CREATE,
    "GET /stores/{store_id}": None,
    "PATCH /stores/{store_id}": stores.EDIT,
    "GET /regions": stores.VIEW_REGIONS,
    "POST /regions": stores.MANAGE_REGIONS,
    "GET /regions/{region_id}": stores.VIEW_REGIONS,
    "PATCH /regions/{region_id}": stores.MANAGE_REGIONS,
    "PUT /regions/{region_id}/stores": stores.MANAGE_REGIONS,
    "GET /staff": staff.MANAGE,
    "POST /staff": staff.MANAGE,
    "GET /staff/{staff_id}": None,
    "PATCH /staff/{staff_id}": staff.MANAGE,
    "GET /api-keys": apikeys.MANAGE,
    "POST /api-keys": apikeys.MANAGE,
    "DELETE /api-keys/{key_id}": apikeys.MANAGE,
    "GET /webhooks": webhooks.MANAGE,
    "POST /webhooks": webhooks.MANAGE,
    "GET /webhooks/{webhook_id}": webhooks.MANAGE,
    "PATCH /webhooks/{webhook_id}": webhooks.MANAGE,
    "DELETE /webhooks/{webhook_id}": webhooks.MANAGE,
    "POST /webhooks/{webhook_id}/rotate-secret": webhooks.MANAGE,
    "GET /webhooks/{webhook_id}/deliveries": webhooks.MANAGE,
    "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/retry": webhooks.MANAGE,
    "GET /audit": audit.READ,
    "POST /members": members.WRITE,
    "GET /members": None,
    "GET /members/{member_id}": None,
    "PATCH /members/{member_id}": members.WRITE,
    "POST /members/{member_id}/identities": members.WRITE,
    "DELETE /members/{member_id}/identities/{identity_id}": members.WRITE,
    "POST /members/{member_id}/code": None,
    "GET /member-codes/{code}": None,
    "PUT /members/{member_id}/consents": members.WRITE,
    "GET /members/{member_id}/consents/history": None,
    "PUT /members/{member_id}/guide": members.ASSIGN_GUIDES,
    "GET /members/{member_id}/guide-history": None,
    "GET /members/{member_id}/timeline": None,
    "GET /members/{member_id}/profile": None,
    "GET /analytics/clv": profiles.ANALYTICS,
    "POST /members/merge": members.MERGE,
    "GET /members/{member_id}/export": members.EXPORT,
    "POST /members/{member_id}/erase": members.ERASE,
    "GET /member-attributes": None,
    "POST /member-attributes": members.EDIT_ATTRIBUTES,
    "PATCH /member-attributes/{attribute_id}": members.EDIT_ATTRIBUTES,
    "POST /imports/members": members.IMPORT,
    "GET /categories": None,
    "GET /categories/{category_id}": None,
    "POST /categories": catalog.EDIT,
    "PATCH /categories/{category_id}": catalog.EDIT,
    "GET /products": None,
    "POST /products": catalog.EDIT,
    "GET /products/{product_id}": None,
    "PATCH /products/{product_id}": catalog.EDIT,
    "POST /imports/products": catalog.EDIT,
    "POST /orders": orders.RECORD,
    "POST /orders/{order_id}/refunds": orders.REFUND,
    "POST /checkout/quote": orders.RECORD,
    "POST /checkout/commit": orders.RECORD,
    "GET /checkout/quotes/{quote_id}": None,
    "GET /orders": None,
    "GET /orders/{order_id}": None,
    "GET /members/{member_id}/orders": None,
    "POST /imports/orders": orders.IMPORT,
    "GET /imports": imports.READ_ALL,
    "GET /imports/{import_id}": None,
    "GET /points/policy": None,
    "PATCH /points/policy": points.EDIT_POLICY,
    "GET /points/rules": points.VIEW_PROGRAM,
    "POST /points/rules": points.EDIT_RULES,
    "GET /points/rules/{rule_id}": points.VIEW_PROGRAM,
    "DELETE /points/rules/{rule_id}": points.EDIT_RULES,
    "PUT /points/rules/{rule_id}": points.EDIT_RULES,
    "POST /points/preview": None,
    "GET /members/{member_id}/points": None,
    "GET /members/{member_id}/points/entries": None,
    "POST /members/{member_id}/points/burns": points.BURN,
    "POST /members/{member_id}/points/adjustments": points.REQUEST_ADJUSTMENT,
    "GET /points/adjustments": points.VIEW_PROGRAM,
    "POST /points/adjustments/{adjustment_id}/approve": points.DECIDE_ADJUSTMENT,
    "POST /points/adjustments/{adjustment_id}/reject": points.DECIDE_ADJUSTMENT,
    "GET /points/liability": points.VIEW_LIABILITY,
    "GET /stored-value/packages": None,
    "POST /stored-value/packages": stored_value.EDIT_PACKAGES,
    "GET /stored-value/packages/{package_id}": None,
    "PATCH /stored-value/packages/{package_id}": stored_value.EDIT_PACKAGES,
    "GET /members/{member_id}/stored-value": None,
    "GET /members/{member_id}/stored-value/entries": None,
    "POST /members/{member_id}/stored-value/recharges": stored_value.RECHARGE,
    "POST /stored-value/recharges/{recharge_id}/refund": stored_value.REFUND_RECHARGE,
    "POST /members/{member_id}/stored-value/refund": stored_value.REFUND_ACCOUNT,
    "GET /stored-value/settlement": stored_value.VIEW_FIGURES,
    "GET /stored-value/liability": stored_value.VIEW_FIGURES,
    "POST /members/{member_id}/stored-value/adjustments": stored_value.ADJUST,
    "GET /mall/items": None,
    "POST /mall/items": mall.MANAGE_ITEMS,
    "GET /mall/items/{item_id}": None,
    "PATCH /mall/items/{item_id}": mall.MANAGE_ITEMS,
    "POST /mall/items/{item_id}/deactivate": mall.MANAGE_ITEMS,
    "POST /members/{member_id}/mall/redemptions": mall.REDEEM,
    "GET /mall/redemptions": None,
    "GET /mall/redemptions/{redemption_id}": None,
    "POST /mall/redemptions/{redemption_id}/hand-over": mall.FULFIL,
    "POST /mall/redemptions/{redemption_id}/ship": mall.FULFIL,
    "POST /mall/redemptions/{redemption_id}/cancel": mall.CANCEL,
    "GET /count-card-products": None,
    "POST /count-card-products": count_cards.EDIT_PRODUCTS,
    "GET /count-card-products/{card_product_id}": None,
    "PATCH /count-card-products/{card_product_id}": count_cards.EDIT_PRODUCTS,
    "POST /members/{member_id}/count-cards": count_cards.SELL,
    "GET /members/{member_id}/count-cards": None,
    "GET /count-cards/{card_id}": None,
    "POST /count-cards/{card_id}/uses": count_cards.USE,
    "POST /count-cards/{card_id}/uses/{use_id}/revoke": count_cards.REVOKE_USE,
    "PUT /members/{member_id}/stored-value/password": stored_value.SET_PASSWORD,
    "GET /coupon-templates": coupons.VIEW,
    "GET /coupon-templates/report": coupons.VIEW_REPORT,
    "POST /coupons/evaluate": orders.RECORD,
    "POST /coupon-templates": coupons.EDIT_TEMPLATES,
    "GET /coupon-templates/{template_id}": coupons.VIEW,
    "PATCH /coupon-templates/{template_id}": coupons.EDIT_TEMPLATES,
    "POST /coupon-templates/{template_id}/issue": coupons.ISSUE,
    "POST /coupon-templates/{template_id}/issue/upload": coupons.ISSUE,
    "GET /members/{member_id}/coupons": None,
    "GET /jobs": schedule.VIEW,
    "GET /jobs/{job_name}/runs": schedule.VIEW,
    "POST /jobs/{job_name}/run": schedule.RUN,
    "GET /tier-program": tiers.VIEW_PROGRAM,
    "PUT /tier-program": tiers.EDIT_PROGRAM,
    "GET /tiers": tiers.VIEW,
    "POST /tiers": tiers.EDIT_LADDER,
    "GET /tiers/{tier_id}": tiers.VIEW,
    "PATCH /tiers/{tier_id}": tiers.EDIT_LADDER,
    "GET /members/{member_id}/tier": tiers.VIEW,
    "POST /members/{member_id}/tier": tiers.SET_TIER,
    "GET /members/{member_id}/tier/history": tiers.VIEW,
    "GET /members/{member_id}/growth/entries": tiers.VIEW,
    "GET /paid-plans": tiers.VIEW,
    "POST /paid-plans": paid.EDIT_PLANS,
    "GET /paid-plans/{plan_id}": tiers.VIEW,
    "PATCH /paid-plans/{plan_id}": paid.EDIT_PLANS,
    "POST /members/{member_id}/paid-memberships": paid.RECORD_PAYMENT,
    "GET /members/{member_id}/paid-memberships": tiers.VIEW,
    "GET /reports": reports.VIEW,
    "GET /reports/{name}": reports.VIEW,
    "GET /coupons/{code}": None,
    "POST /coupons/{code}/transfer": coupons.TRANSFER,
    "POST /coupons/{code}/void": coupons.VOID,
    "GET /tags": None,
    "POST /tags": tags.MANAGE,
    "GET /tags/{tag_id}": None,
    "PATCH /tags/{tag_id}": tags.MANAGE,
    "POST /tags/{tag_id}/refresh": tags.MANAGE,
    "POST /tags/{tag_id}/members": tags.BULK,
    "POST /tags/{tag_id}/members/remove": tags.BULK,
    "POST /tags/{tag_id}/members/upload": tags.BULK,
    "POST /tag-imports": tags.BULK,
    "GET /members/{member_id}/tags": None,
    "POST /members/{member_id}/tags": tags.TAG_MEMBERS,
    "DELETE /members/{member_id}/tags/{tag_id}": tags.TAG_MEMBERS,
    "POST /journeys": journeys.MANAGE,
    "GET /journeys": journeys.VIEW,
    "GET /journeys/{journey_id}": journeys.VIEW,
    "PATCH /journeys/{journey_id}": journeys.MANAGE,
    "POST /journeys/{journey_id}/activate": journeys.MANAGE,
    "POST /journeys/{journey_id}/pause": journeys.MANAGE,
    "POST /journeys/{journey_id}/archive": journeys.MANAGE,
    "GET /journeys/{journey_id}/entries": journeys.VIEW,
    "GET /journeys/{journey_id}/flow": journeys.VIEW,
    "GET /journeys/{journey_id}/report": journeys.VIEW,
    "GET /check-in-program": check_ins.VIEW_PROGRAM,
    "PUT /check-in-program": check_ins.EDIT_PROGRAM,
    "GET /members/{member_id}/check-ins": check_ins.VIEW_MEMBER,
    "GET /check-ins/report": check_ins.VIEW_REPORT,
    "GET /referral-program": referrals.VIEW,
    "PUT /referral-program": referrals.EDIT_PROGRAM,
    "POST /members/{member_id}/referral": referrals.RECORD,
    "GET /referrals": referrals.VIEW,
    "GET /referrals/report": referrals.VIEW,
}


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """The API routes, whether the app lists them flat or under the routers it included."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


def _api_routes() -> dict[str, APIRoute]:
    app = create_app(Settings(env="test", database_url="sqlite://", secret_key="k" * 40))
    found = {}
    for route in _routes(app.router.routes):
        if route.endpoint.__module__.endswith((".api", "_api")):
            path = route.path.removeprefix("/api/v1")
            found.update({f"{method} {path}": route for method in route.methods})
    return found


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _actor(role: Role) -> Actor:
    return Actor(kind="staff", id=1, name=role.value, role=role, store_ids=None)


def _admits(guard: Guard, role: Role) -> bool:
    try:
        asyncio.run(guard(_actor(role)))
    except Forbidden:
        return False
    return True


def _declared() -> list[tuple[str, Permission]]:
    """Every permission in every domain's permissions module, with the domain declaring it."""
    found = []
    for module in pkgutil.iter_modules(patron.__path__):
        if module.ispkg and importlib.util.find_spec(f"patron.{module.name}.permissions"):
            policy = importlib.import_module(f"patron.{module.name}.permissions")
            found += [(module.name, p) for p in vars(policy).values() if isinstance(p, Permission)]
    return found


@pytest.fixture(scope="module")
def routes() -> dict[str, APIRoute]:
    return _api_routes()


def test_every_api_route_is_listed(routes: dict[str, APIRoute]) -> None:
    assert set(routes) == set(GUARDS) | PUBLIC | MEMBER_ROUTES


@pytest.mark.parametrize("key", sorted(MEMBER_ROUTES))
def test_a_member_route_takes_the_member_token_only(routes: dict[str, APIRoute], key: str) -> None:
    calls = list(_calls(routes[key].dependant))
    assert current_member in calls
    assert current_actor not in calls
    assert not [call for call in calls if isinstance(call, Guard)]


@pytest.mark.parametrize("key", sorted(GUARDS))
def test_a_route_admits_exactly_the_roles_its_policy_declares(
    routes: dict[str, APIRoute], key: str
) -> None:
    calls = list(_calls(routes[key].dependant))
    guards = [call for call in calls if isinstance(call, Guard)]
    permission = GUARDS[key]
    assert current_actor in calls
    if permission is None:
        assert guards == []
        return
    assert [guard.permission for guard in guards] == [permission]
    admitted = {role for role in Role if _admits(guards[0], role)}
    assert admitted == set(permission.roles)


def test_the_public_route_asks_for_no_actor(routes: dict[str, APIRoute]) -> None:
    for key in PUBLIC:
        assert current_actor not in list(_calls(routes[key].dependant))
        assert current_member not in list(_calls(routes[key].dependant))


def test_each_permission_is_named_for_its_domain_once() -> None:
    declared = _declared()
    assert {domain for domain, _ in declared} >= {
        "apikeys",
        "audit",
        "catalog",
        "coupons",
        "members",
        "orders",
        "points",
        "staff",
        "stores",
        "stored_value",
    }
    for domain, permission in declared:
        assert permission.name.startswith(f"{domain}.")
    names = [permission.name for _, permission in declared]
    assert len(names) == len(set(names))


def test_every_permission_guards_a_route_or_a_console_control() -> None:
    used = set(GUARDS.values()) | set(flags().values())
    assert {permission for _, permission in _declared()} <= used


def test_a_refusal_names_the_roles_in_their_usual_order() -> None:
    permission = Permission("demo.approve", {Role.hq_finance, Role.hq_admin})
    assert permission.roles == (Role.hq_admin, Role.hq_finance)
    assert permission.allows(_actor(Role.hq_finance))
    with pytest.raises(Forbidden, match="one of the roles: hq_admin, hq_finance"):
        permission.check(_actor(Role.cashier))
