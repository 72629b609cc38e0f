"""Every domain, loaded in one place by the app and the CLI. Loading imports every table (so
foreign keys resolve) and every module that plugs into another domain through a hook: event
subscribers (points earn on `order.completed`), and what member merge, erasure, export and
timeline collect. A process that skipped one would, say, merge members without their points."""

from __future__ import annotations

import importlib

HOOKED_MODULES = (
    "patron.models",
    # The scheduled jobs, registered in the order `patron jobs run` runs them.
    "patron.points.jobs",
    "patron.coupons.jobs",
    "patron.tiers.jobs",
    "patron.staff.jobs",
    "patron.schedule.jobs",
    "patron.checkout.jobs",
    # Segment counts read the spend sums: folded before the profiles' and segments' jobs.
    "patron.orders.jobs",
    "patron.profiles.jobs",
    "patron.reports.jobs",
    "patron.schedule.tasks",
    # Rule tags read the members' profiles: after the profiles' jobs.
    "patron.tags.jobs",
    # Saved segments are counted after profiles and rule tags (02:45).
    "patron.segments.jobs",
    "patron.campaigns.jobs",
    "patron.journeys.jobs",
    "patron.referrals.jobs",
    "patron.members.merge",
    "patron.members.privacy",
    "patron.members.timeline",
    "patron.orders.service",
    "patron.points.earning",
    "patron.points.refunds",
    "patron.points.merge",
    "patron.points.queries",
    "patron.coupons.hooks",
    "patron.coupons.redemption",
    "patron.stored_value.hooks",
    "patron.tiers.hooks",
    "patron.count_cards.hooks",
    "patron.check_ins.hooks",
    "patron.mall.hooks",
    "patron.stored_value.payments",
    "patron.messages.hooks",
    "patron.messages.jobs",
    "patron.webhooks.jobs",
    "patron.tags.hooks",
    "patron.referrals.hooks",
    # After points and tiers: a journey an order starts sees the order's points and tier.
    "patron.journeys.triggers",
    # What webhooks may subscribe to: every domain's event types, known wherever domains load.
    "patron.members.events",
    "patron.points.events",
    "patron.coupons.events",
    "patron.stored_value.events",
    "patron.journeys.events",
    "patron.webhooks.erasure",
    # After the orders' merge hook: the survivor's facts count the orders moved to them.
    "patron.profiles.hooks",
    # After the orders' merge hook too: the members' daily facts count the moved orders.
    "patron.reports.hooks",
)


def load() -> None:
    for module in HOOKED_MODULES:
        importlib.import_module(module)
