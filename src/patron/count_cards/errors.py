"""The count-card domain's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound


class ProductNotFound(NotFound):
    code = "count_card_product_not_found"
    title = "Count-card product not found"


class ProductNotActive(Conflict):
    code = "product_not_active"
    title = "The count-card product is not on sale"


class CardNotFound(NotFound):
    code = "count_card_not_found"
    title = "Count card not found"


class UseNotFound(NotFound):
    code = "count_card_use_not_found"
    title = "Use of the count card not found"


class NoUsesLeft(Conflict):
    code = "no_uses_left"
    title = "The count card has no uses left"


class CardExpired(Conflict):
    code = "card_expired"
    title = "The count card's validity is over"


class CardVoid(Conflict):
    """A card that came with a recharge package whose recharge was refunded."""

    code = "card_void"
    title = "The count card was voided with the refund of its recharge"


class UseRevoked(Conflict):
    code = "use_revoked"
    title = "This use has been revoked already"


class RevokeWindowOver(Conflict):
    code = "revoke_window_over"
    title = "A use can be revoked only on the business day it was made"
