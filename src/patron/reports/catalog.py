"""Every report module, imported here so that each declares itself in the registry before the
API and the console list them. The order here is the order of the console's menu."""

from patron.reports import (
    campaigns,  # noqa: F401
    coupons,  # noqa: F401
    leaderboards,  # noqa: F401
    points,  # noqa: F401
    registry,
    store,  # noqa: F401
    stored_value,  # noqa: F401
)

__all__ = ["registry"]
