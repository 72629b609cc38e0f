"""What the orders domain publishes: an order completed, an order (partly) refunded. Subscribers
receive these payloads typed; the outbox stores them as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patron.core.events import EventType


@dataclass(frozen=True)
class CompletedLine:
    line_id: int
    sku: str
    product_id: int | None
    category_id: int | None
    quantity: int
    paid: int


@dataclass(frozen=True)
class OrderCompleted:
    order_id: int
    store_id: int
    member_id: int | None
    channel: str
    occurred_at: datetime
    total: int
    payments: dict[str, int]  # fen by payment method
    lines: tuple[CompletedLine, ...]
    # Fen of payments["stored_value"] that came from the account's bonus (赠送), not its
    # principal: money the member never paid in, so it earns no points or growth value
    # (unless PATRON_STORED_VALUE_BONUS_EARNS); the principal part earns like cash.
    stored_value_bonus: int = 0


@dataclass(frozen=True)
class RefundedLine:
    line_id: int
    quantity: int
    amount: int


@dataclass(frozen=True)
class OrderRefunded:
    order_id: int
    refund_id: int
    store_id: int
    member_id: int | None
    amount: int
    refunded_total: int  # of the order, this refund included
    order_total: int
    fully_refunded: bool
    lines: tuple[RefundedLine, ...]
    operator: str = "system"  # who refunded
    # What this refund gives back of the tenders its lines carry (each line's cumulative share
    # of its points and stored value); None for an order whose lines carry none of that
    # tender, whose refunds give back a share of the order's by the refunded amount.
    points_back: int | None = None
    stored_value_back: int | None = None


ORDER_COMPLETED: EventType[OrderCompleted] = EventType("order.completed")
ORDER_REFUNDED: EventType[OrderRefunded] = EventType("order.refunded")
