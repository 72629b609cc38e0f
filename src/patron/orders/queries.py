"""Orders as other domains count them, for set-based work (profiles aggregate them per member):
an order counts unless fully refunded, for what is left of it after refunds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CompoundSelect, Select, select

from patron.orders.models import Order, OrderChannel, OrderLine, OrderStatus, Refund

# Every channel an order can have, in text order (as the database sorts them).
CHANNELS = tuple(sorted(channel.value for channel in OrderChannel))


def counted_orders(now: datetime) -> Select[int, int | None, int, str, datetime, int]:
    """Members' orders before `now` that count: id, member_id, store_id, channel, occurred_at
    and net (total less refunds)."""
    return select(
        Order.id,
        Order.member_id,
        Order.store_id,
        Order.channel,
        Order.occurred_at,
        (Order.total - Order.refunded_amount).label("net"),
    ).where(
        Order.member_id.is_not(None),
        Order.occurred_at < now,
        Order.status != OrderStatus.refunded.value,
    )


def counted_lines(now: datetime) -> Select[int | None, int | None, int]:
    """The lines with a category and something left paid (net > 0) of the orders that count:
    member_id, category_id and net (paid less refunds). From the lines alone, by their copies
    of their order's member and time (`ix_order_lines_category_occurred` covers it): an order
    that does not count (status `refunded`) has every line fully refunded, net 0, so leaving
    out the lines of net 0 leaves out its lines and changes no positive sum."""
    return select(
        OrderLine.member_id,
        OrderLine.category_id,
        (OrderLine.paid - OrderLine.refunded_amount).label("net"),
    ).where(
        OrderLine.member_id.is_not(None),
        OrderLine.occurred_at < now,
        OrderLine.category_id.is_not(None),
        OrderLine.paid > OrderLine.refunded_amount,
    )


def last_ids() -> Select[int | None, int | None]:
    """The highest order id and refund id: how far a watermark has read."""
    return select(
        select(Order.id).order_by(Order.id.desc()).limit(1).scalar_subquery(),
        select(Refund.id).order_by(Refund.id.desc()).limit(1).scalar_subquery(),
    )


def members_changed_since(order_id: int, refund_id: int) -> CompoundSelect[int | None]:
    """Members with an order past `order_id`, or a refund past `refund_id` of their order."""
    return (
        select(Order.member_id)
        .where(Order.id > order_id, Order.member_id.is_not(None))
        .union(
            select(Order.member_id)
            .join(Refund, Refund.order_id == Order.id)
            .where(Refund.id > refund_id, Order.member_id.is_not(None))
        )
    )
