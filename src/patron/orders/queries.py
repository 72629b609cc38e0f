"""Orders as other domains count them, for set-based work (profiles aggregate them per member):
an order counts unless fully refunded, for what is left of it after refunds."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, String, case, func, literal_column, select, union
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from patron.core.daily import BusinessDays
from patron.orders.models import Order, OrderChannel, OrderLine, OrderPayment, OrderStatus, Refund

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


def no_other_order(member_id: Any, order_id: Any) -> Any:
    """SQL truth: the member has no order but `order_id` (it is their first purchase)."""
    return ~select(Order.id).where(Order.member_id == member_id, Order.id != order_id).exists()


def no_order_since(member_id: Any, since: Any) -> Any:
    """SQL truth: the member has no counted order at or after `since` (columns or values)."""
    return (
        ~select(Order.id)
        .where(
            Order.member_id == member_id,
            Order.occurred_at >= since,
            Order.status != OrderStatus.refunded.value,
        )
        .exists()
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


def purchases_in_windows(
    windows: Select[Any, Any], days: int, dialect: str
) -> Select[Any, Any, int]:
    """What each window's member bought in it, net of refunds: `windows` selects (member_id,
    start) pairs; one row (member_id, start, net) per window with a counted order left paid
    (net > 0) at or after `start` and before `days` days after it. Set-based: one query
    whatever the number of windows, read through `ix_orders_member_occurred`."""
    given = windows.subquery("windows")
    member_id, start = given.c
    net = Order.total - Order.refunded_amount
    return (
        select(member_id, start, func.sum(net).label("net"))
        .join_from(given, Order, Order.member_id == member_id)
        .where(
            Order.occurred_at >= start,
            Order.occurred_at < _days_after(start, days, dialect),
            Order.status != OrderStatus.refunded.value,
            net > 0,
        )
        .group_by(member_id, start)
    )


def _days_after(start: Any, days: int, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return start + literal_column(f"interval '{int(days)} days'")
    # SQLite keeps times as text, 'YYYY-MM-DD HH:MM:SS.ffffff': the date moved, the fraction kept.
    return func.datetime(start, f"+{int(days)} days", type_=String) + func.substr(start, 20)


# Referrals: the invitee's first paid order, whether its payer paid the referrer's orders too,
# and whether it was refunded in full within the reversal window.


def first_paid_order(member_id: Any) -> Any:
    """SQL scalar: the id of the member's first order that took money (total above 0), by when
    it happened (then by id), whatever refunds came later; NULL when there is none."""
    return (
        select(Order.id)
        .where(Order.member_id == member_id, Order.total > 0)
        .order_by(Order.occurred_at, Order.id)
        .limit(1)
        .scalar_subquery()
    )


def shares_payment_reference(order_id: Any, member_id: Any) -> Any:
    """SQL truth: a payment of order `order_id` carries a reference (a card, an account) that
    another order of the member was paid with."""
    mine, theirs, their_order = aliased(OrderPayment), aliased(OrderPayment), aliased(Order)
    return (
        select(mine.id)
        .join(theirs, theirs.reference == mine.reference)
        .join(their_order, their_order.id == theirs.order_id)
        .where(
            mine.order_id == order_id,
            mine.reference != "",
            their_order.member_id == member_id,
            their_order.id != order_id,
        )
        .exists()
    )


def order_states(order_ids: Any) -> Select[int, str, datetime, datetime | None]:
    """(id, status, occurred_at, refunded_at: when its last refund was made) of the orders."""
    last_refund = (
        select(func.max(Refund.created_at)).where(Refund.order_id == Order.id).scalar_subquery()
    )
    return select(
        Order.id, Order.status, Order.occurred_at, last_refund.label("refunded_at")
    ).where(Order.id.in_(order_ids))


def refunded_in_full(order_ids: Any) -> Select[int, str, datetime, datetime | None]:
    """`order_states` of those of the orders refunded in full."""
    return order_states(order_ids).where(Order.status == OrderStatus.refunded.value)


def sales_by_day(days: BusinessDays, store_ids: Sequence[int]) -> Select[*tuple[Any, ...]]:
    """Per business day of `days`, store (of `store_ids`) and channel: orders placed, their
    totals, and those of members' orders (whatever was refunded of them later). Given every
    store, PostgreSQL reads a few days through `ix_orders_store_occurred`, a range per store,
    instead of every order."""
    day = days.of(Order.occurred_at).label("day")
    of_member = Order.member_id.is_not(None)
    return (
        select(
            day,
            Order.store_id,
            Order.channel,
            func.count().label("orders"),
            func.sum(Order.total).label("sales"),
            func.sum(case((of_member, 1), else_=0)).label("member_orders"),
            func.sum(case((of_member, Order.total), else_=0)).label("member_sales"),
        )
        .where(Order.store_id.in_(store_ids), days.holds(Order.occurred_at))
        .group_by(day, Order.store_id, Order.channel)
    )


def refunds_by_day(days: BusinessDays) -> Select[*tuple[Any, ...]]:
    """Per business day of `days` (the refund's), the order's store and channel: refunded fen,
    and of members' orders."""
    day = days.of(Refund.created_at).label("day")
    return (
        select(
            day,
            Order.store_id,
            Order.channel,
            func.sum(Refund.amount).label("refunded"),
            func.sum(case((Order.member_id.is_not(None), Refund.amount), else_=0)).label(
                "member_refunded"
            ),
        )
        .join(Order, Order.id == Refund.order_id)
        .where(days.holds(Refund.created_at))
        .group_by(day, Order.store_id, Order.channel)
    )


def member_sales_by_day(
    days: BusinessDays, store_ids: Sequence[int], now: datetime
) -> Select[*tuple[Any, ...]]:
    """Per business day of `days`, member, store (of `store_ids`, as `sales_by_day`) and
    channel: the member's orders that count and their net (`counted_orders`)."""
    counted = counted_orders(now).where(
        Order.store_id.in_(store_ids), days.holds(Order.occurred_at)
    )
    return _member_sales(counted, days)


def members_sales_by_day(
    days: BusinessDays, member_ids: Collection[int], now: datetime
) -> Select[*tuple[Any, ...]]:
    """`member_sales_by_day` of these members only, on every day they bought (`days` gives
    the business day of a time; `ix_orders_member_occurred` finds their orders)."""
    counted = counted_orders(now).where(Order.member_id.in_(sorted(member_ids)))
    return _member_sales(counted, days)


def _member_sales(orders: Select[*tuple[Any, ...]], days: BusinessDays) -> Select[*tuple[Any, ...]]:
    counted = orders.subquery("counted")
    day = days.of(counted.c.occurred_at).label("day")
    return select(
        day,
        counted.c.member_id,
        counted.c.store_id,
        counted.c.channel,
        func.count().label("orders"),
        func.sum(counted.c.net).label("net_sales"),
    ).group_by(day, counted.c.member_id, counted.c.store_id, counted.c.channel)


def days_changed_since(days: BusinessDays, order_id: int, refund_id: int) -> CompoundSelect[Any]:
    """The business days whose orders changed: of orders past `order_id`, and of refunds past
    `refund_id` both the refund's day and its order's."""
    return union(
        select(days.of(Order.occurred_at)).where(Order.id > order_id),
        select(days.of(Refund.created_at)).where(Refund.id > refund_id),
        select(days.of(Order.occurred_at))
        .join(Refund, Refund.order_id == Order.id)
        .where(Refund.id > refund_id),
    )
