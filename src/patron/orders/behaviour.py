"""Members' buying behaviour over a window of time, for segment rules: what they spent, how
many orders they placed, whether they bought a SKU. Set-based: one row per member who has
something in the window (members absent from the rows spent 0 and ordered nothing).

- spent: net paid, fen: orders' `total - refunded_amount`, or, when categories are given, the
  lines' `paid - refunded_amount` in those categories;
- orders: orders not fully refunded (status `refunded`); with categories, those among them with
  a line in the categories not fully refunded;
- bought: a line of the SKU's product not fully refunded.

The window is `since <= occurred_at < until` (no `since`: from the first order).

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


def spent(window: Window) -> tuple[Select[int | None], ColumnElement[Any]]:
    """(member_id rows grouped by member, the member's net spend): the caller adds HAVING."""
    if window.category_ids is None:
        value = func.sum(Order.total - Order.refunded_amount)
        query = select(Order.member_id).where(*_conditions(window))
    elif _lines_alone(window):
        value = func.sum(OrderLine.paid - OrderLine.refunded_amount)
        query = select(OrderLine.member_id).where(*_line_conditions(window), *_lines(window))
        return query.group_by(OrderLine.member_id), value
    else:
        value = func.sum(OrderLine.paid - OrderLine.refunded_amount)
        query = (
            select(Order.member_id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(*_conditions(window), *_lines(window))
        )
    return query.group_by(Order.member_id), value


def order_count(window: Window) -> tuple[Select[int | None], ColumnElement[Any]]:
    """(member_id rows grouped by member, the member's count of orders): the caller adds HAVING."""
    counted = Order.status != OrderStatus.refunded.value
    if window.category_ids is None:
        value = func.count(Order.id)
        query = select(Order.member_id).where(*_conditions(window), counted)
    elif _lines_alone(window):
        value = func.count(OrderLine.order_id.distinct())
        query = select(OrderLine.member_id).where(
            *_line_conditions(window),
            *_lines(window),
            OrderLine.refunded_quantity < OrderLine.quantity,
        )
        return query.group_by(OrderLine.member_id), value
    else:
        value = func.count(Order.id.distinct())
        query = (
            select(Order.member_id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                *_conditions(window),
                counted,
                *_lines(window),
                OrderLine.refunded_quantity < OrderLine.quantity,
            )
        )
    return query.group_by(Order.member_id), value


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
