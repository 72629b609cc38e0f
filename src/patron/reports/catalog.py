"""Every report module, imported here so that each declares itself in the registry before the
API and the console list them. The order here is the order of the console's menu."""

from patron.reports import (
    activity,
    campaigns,
    classes,
    cohorts,
    coupons,
    growth,
    leaderboards,
    overview,
    pareto,
    points,
    registry,
    repurchase,
    store,
    stored_value,
    tier_report,
)

__all__ = [
    "activity",
    "campaigns",
    "classes",
    "cohorts",
    "coupons",
    "growth",
    "leaderboards",
    "overview",
    "pareto",
    "points",
    "registry",
    "repurchase",
    "store",
    "stored_value",
    "tier_report",
]
