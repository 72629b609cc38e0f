"""Every report module, imported here so that each declares itself in the registry before the
API and the console list them. The import order is the console menu's order."""

# The overview opens the menu; the others follow by name.
from patron.reports import overview

# isort: split
from patron.reports import (
    activity,
    campaigns,
    classes,
    cohorts,
    coupons,
    growth,
    leaderboards,
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
