"""Members' buying behaviour over a window of time, for segment rules: what they spent, how
many orders they placed, whether they bought a SKU. Set-based: one row per member who has
something in the window (members absent from the rows spent 0 and ordered nothing).

- spent: net paid, fen: orders' `total - refunded_amount`, or, when categories are given, the
  lines' `paid - refunded_amount` in those categories;
- orders: orders not fully refunded (status `refunded`); with categories, those among them with
  a line in the categories not fully refunded;
- bought: a line of the SKU's product not fully refunded.

The window is `since <= occurred_at < until` (no `since`: from the first order).

`spent` and `orders` over all time or over the year before `until`, at any store, in any
category and channel, read each member's sums (`orders.spend`) instead of grouping the orders.

A window without a store or channel filter reads the lines alone, by their copies of their
order's member and time (`ix_order_lines_category_occurred` covers a category's spend). The
order's status needs no join there: an order is `refunded` only when every line is fully
refunded, so a line not fully refunded is of an order counted."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select
from sqlalchemy.orm import Session

from patron.orders import spend
from patron.orders.models import Order, OrderLine, OrderStatus


@dataclass(frozen=True)
class Window:
    until: datetime
    since: datetime | None = None
    store_ids: Collection[int] | None = None  # None: any store
    category_ids: Collection[int] | None = None  # None: any line
    channel: str | None = None


def _conditions(window: Window) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = [
        Order.member_id.is_not(None),
        Order.occurred_at < window.until,
    ]
    if window.since is not None:
        found.append(Order.occurred_at >= window.since)
    if window.store_ids is not None:
        found.append(Order.store_id.in_(window.store_ids) if window.store_ids else false())
    if window.channel is not None:
        found.append(Order.channel == window.channel)
    return found


def _lines_alone(window: Window) -> bool:
    """Whether the window's conditions are all on the lines' own columns."""
    return window.store_ids is None and window.channel is None


def _line_conditions(window: Window) -> list[ColumnElement[bool]]:
    """The window on the lines' copies of their order's member and time."""
    found: list[ColumnElement[bool]] = [
        OrderLine.member_id.is_not(None),
        OrderLine.occurred_at < window.until,
    ]
    if window.since is not None:
        found.append(OrderLine.occurred_at >= window.since)
    return found


def _lines(window: Window) -> list[ColumnElement[bool]]:
    assert window.category_ids is not None
    ids = window.category_ids
    return [OrderLine.category_id.in_(ids) if ids else false()]


def _summed(session: Session, measure: spend.Measure, window: Window) -> Select[Any, Any] | None:
    if window.store_ids is not None or window.category_ids is not None or window.channel:
        return None
    return spend.rows(session, measure, window.until, window.since)


def _grouped(
    member_id: Any,
    value: ColumnElement[Any],
    conditions: list[ColumnElement[bool]],
    joined: bool = False,
) -> Select[Any, Any]:
    """(member_id, value) of the rows meeting `conditions` (of orders with their lines when
    `joined`), grouped by member."""
    query = select(member_id.label("member_id"), value.label("value"))
    if joined:
        query = query.select_from(Order).join(OrderLine, OrderLine.order_id == Order.id)
    return query.where(*conditions).group_by(member_id)


def spent(session: Session, window: Window) -> Select[Any, Any]:
    """(member_id, value) rows: each member's net spend in the window, fen."""
    summed = _summed(session, "spent", window)
    if summed is not None:
        return summed
    if window.category_ids is None:
        value = func.sum(Order.total - Order.refunded_amount)
        return _grouped(Order.member_id, value, _conditions(window))
    value = func.sum(OrderLine.paid - OrderLine.refunded_amount)
    if _lines_alone(window):
        lines = [*_line_conditions(window), *_lines(window)]
        return _grouped(OrderLine.member_id, value, lines)
    return _grouped(Order.member_id, value, [*_conditions(window), *_lines(window)], joined=True)


def order_count(session: Session, window: Window) -> Select[Any, Any]:
    """(member_id, value) rows: each member's count of orders in the window."""
    summed = _summed(session, "orders", window)
    if summed is not None:
        return summed
    counted = Order.status != OrderStatus.refunded.value
    if window.category_ids is None:
        return _grouped(Order.member_id, func.count(Order.id), [*_conditions(window), counted])
    not_refunded = OrderLine.refunded_quantity < OrderLine.quantity
    if _lines_alone(window):
        lines = [*_line_conditions(window), *_lines(window), not_refunded]
        return _grouped(OrderLine.member_id, func.count(OrderLine.order_id.distinct()), lines)
    conditions = [*_conditions(window), counted, *_lines(window), not_refunded]
    return _grouped(Order.member_id, func.count(Order.id.distinct()), conditions, joined=True)


def buyers(product_ids: Collection[int], window: Window) -> Select[int | None]:
    """The members with a line of the products in the window, not fully refunded (by product,
    not by the line's copy of its SKU: `order_lines.product_id` is indexed, `sku` is not)."""
    bought = [
        OrderLine.product_id.in_(product_ids) if product_ids else false(),
        OrderLine.refunded_quantity < OrderLine.quantity,
    ]
    if _lines_alone(window):
        return select(OrderLine.member_id).where(*_line_conditions(window), *bought)
    return (
        select(Order.member_id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(*_conditions(window), *bought)
    )
