"""The points mall's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound
from patron.points.errors import InsufficientPoints

__all__ = [
    "CancelRefused",
    "InsufficientPoints",
    "ItemNotFound",
    "ItemUnavailable",
    "LimitReached",
    "OutOfStock",
    "RedemptionNotFound",
    "RewardUnavailable",
    "TierRequired",
    "WrongStatus",
]


class ItemNotFound(NotFound):
    code = "mall_item_not_found"
    title = "Mall item not found"


class RedemptionNotFound(NotFound):
    code = "mall_redemption_not_found"
    title = "Mall redemption not found"


class ItemUnavailable(Conflict):
    """Switched off, or outside its validity window."""

    code = "item_unavailable"
    title = "The item cannot be redeemed now"


class OutOfStock(Conflict):
    code = "out_of_stock"
    title = "Not enough of the item is left"


class LimitReached(Conflict):
    code = "limit_reached"
    title = "The member has redeemed this item as often as allowed"


class TierRequired(Conflict):
    code = "tier_required"
    title = "The item is for members of a higher tier"


class RewardUnavailable(Conflict):
    """The coupon template behind the item could not give its coupons (ended, out of stock or
    over its own per-member limit)."""

    code = "reward_unavailable"
    title = "The item's coupon cannot be issued now"


class WrongStatus(Conflict):
    code = "redemption_status"
    title = "The redemption is not in a state that allows this"


class CancelRefused(Conflict):
    """The coupon or count card it gave has been used already."""

    code = "reward_used"
    title = "What the redemption gave has been used: it cannot be cancelled"
