"""Each member's net spend and counted orders over all time and over a year, kept exact for the
segment rules' `spent(...)`/`orders(...)` without a window, or with `days=365`, so that counting
them reads a row per member instead of grouping millions of orders.

- Triggers on `orders` (migration 0026) append every change a write makes (an insert, a refund, a
  merge moving orders, an import) to `member_spend_changes`, at the order's time; order writers
  never lock or update a sum, so the order path gains no statement and no lock.
- The fold (`orders.spend`, every 5 minutes; built by its first run) adds those changes to
  `member_spend` and slides the year up to its `now`, in one snapshot: on PostgreSQL one
  statement that deletes the changes it adds (a change committed meanwhile stays for the next
  fold); on SQLite the writer holds the database.
- A member's row is made (zeros) by the triggers at their first order, so a count reads one
  row per buyer: the sums, plus what the fold has not seen (its pending changes within the
  sums' year, the orders since the year's end, minus those that have left the window since: a
  year as of `now` = the folded year + [until, now) - [until - 365 d, now - 365 d)), by a small
  hash join.

So the sums answer exactly what grouping the orders would, whenever the fold last ran; the fold
only keeps the corrections small."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CursorResult,
    Select,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from patron.core.db import UTCDateTime
from patron.orders.models import (
    MemberSpend,
    MemberSpendChange,
    MemberSpendYear,
    Order,
    OrderStatus,
)

YEAR = timedelta(days=365)
Measure = Literal["spent", "orders"]

_COUNTED = f"CASE WHEN status = '{OrderStatus.refunded.value}' THEN 0 ELSE 1 END"
_IN_YEAR = "occurred_at >= :year_since AND occurred_at < :year_until"
_SUMS = "member_id, spent, orders, year_spent, year_orders"
_TOTALS = "sum(spent), sum(orders), sum(year_spent), sum(year_orders)"
# The changes (within the old year: into it too), the orders that entered the year, and those
# that left it; grouped by member in key order (rows locked in primary-key order).
_FOLD = f"""
{{with_changes}}
INSERT INTO member_spend ({_SUMS})
SELECT member_id, {_TOTALS}
FROM (
    SELECT member_id, spent, orders,
           CASE WHEN {_IN_YEAR} THEN spent ELSE 0 END AS year_spent,
           CASE WHEN {_IN_YEAR} THEN orders ELSE 0 END AS year_orders
    FROM {{changes}} AS folded
    UNION ALL
    SELECT member_id, 0, 0, total - refunded_amount, {_COUNTED}
    FROM orders
    WHERE member_id IS NOT NULL AND occurred_at >= :year_until AND occurred_at < :until
    UNION ALL
    SELECT member_id, 0, 0, refunded_amount - total, -{_COUNTED}
    FROM orders
    WHERE member_id IS NOT NULL AND occurred_at >= :year_since AND occurred_at < :since
) AS change
WHERE true
GROUP BY member_id
ORDER BY member_id
ON CONFLICT (member_id) DO UPDATE SET
    spent = member_spend.spent + excluded.spent,
    orders = member_spend.orders + excluded.orders,
    year_spent = member_spend.year_spent + excluded.year_spent,
    year_orders = member_spend.year_orders + excluded.year_orders
"""
# Writers may have made rows (zeros) for new buyers meanwhile: the build's values replace them.
_BUILD = f"""
{{with_changes}}
INSERT INTO member_spend ({_SUMS})
SELECT member_id, sum(total - refunded_amount), sum({_COUNTED}),
       sum(CASE WHEN {_IN_YEAR} THEN total - refunded_amount ELSE 0 END),
       sum(CASE WHEN {_IN_YEAR} THEN {_COUNTED} ELSE 0 END)
FROM orders
WHERE member_id IS NOT NULL
GROUP BY member_id
ORDER BY member_id
ON CONFLICT (member_id) DO UPDATE SET
    spent = excluded.spent,
    orders = excluded.orders,
    year_spent = excluded.year_spent,
    year_orders = excluded.year_orders
"""


@dataclass(frozen=True)
class Folded:
    built: bool  # the sums were built from every order (the first fold)
    members: int  # members whose sums changed
    until: datetime  # the year's end now


def year_until(session: Session) -> datetime | None:
    """The end of the year the sums hold; None until they are built."""
    return session.scalar(select(MemberSpendYear.until).where(MemberSpendYear.id == 1))


def fold(session: Session, now: datetime) -> Folded:
    """Add the changes since the last fold and slide the year to end at `now` (never back); the
    first fold builds the sums from every order. One fold at a time: it locks the year's row."""
    until = session.scalar(
        select(MemberSpendYear.until).where(MemberSpendYear.id == 1).with_for_update()
    )
    postgresql = session.get_bind().dialect.name == "postgresql"
    # PostgreSQL deletes the changes in the statement that adds them (one snapshot); SQLite's
    # writer holds the database, so a DELETE after it removes the same rows.
    with_changes = (
        "WITH folded AS (DELETE FROM member_spend_changes "
        "RETURNING member_id, occurred_at, spent, orders)"
        if postgresql
        else ""
    )
    built = until is None
    if until is None:
        session.execute(delete(MemberSpend))
        new_until = now
        sql, times = _BUILD, {"year_since": now - YEAR, "year_until": now}
    else:
        new_until = max(until, now)
        sql = _FOLD.replace("{changes}", "folded" if postgresql else "member_spend_changes")
        times = {
            "since": new_until - YEAR,
            "until": new_until,
            "year_since": until - YEAR,
            "year_until": until,
        }
    statement = text(sql.replace("{with_changes}", with_changes)).bindparams(
        *(bindparam(name, type_=UTCDateTime()) for name in times)
    )
    members = cast(CursorResult[Any], session.execute(statement, times)).rowcount
    if not postgresql:
        session.execute(delete(MemberSpendChange))
    session.execute(update(MemberSpendYear).where(MemberSpendYear.id == 1).values(until=new_until))
    return Folded(built=built, members=members, until=new_until)


def _amounts(measure: Measure) -> tuple[ColumnElement[Any], Any]:
    """(an order's amount, a change's amount) of the measure."""
    if measure == "spent":
        return Order.total - Order.refunded_amount, MemberSpendChange.spent
    counted = case((Order.status == OrderStatus.refunded.value, 0), else_=1)
    return counted, MemberSpendChange.orders


def _orders(amount: ColumnElement[Any], since: datetime, before: datetime | None) -> Select[Any]:
    window = [Order.member_id.is_not(None), Order.occurred_at >= since]
    if before is not None:
        window.append(Order.occurred_at < before)
    return select(Order.member_id.label("member_id"), amount.label("amount")).where(*window)


def rows(
    session: Session, measure: Measure, until: datetime, since: datetime | None
) -> Select[Any, Any] | None:
    """(member_id, value) of every member with something, for the measure over `since <=
    occurred_at < until` (no `since`: all time), from the sums; None when they cannot answer:
    not built yet, a window other than all time or the year before `until`, or `until` before
    the year's end."""
    if since is not None and until - since != YEAR:
        return None
    year_end = year_until(session)
    if year_end is None or (since is not None and until < year_end):
        return None
    order_amount, change_amount = _amounts(measure)
    change = select(MemberSpendChange.member_id.label("member_id"), change_amount.label("amount"))
    if since is None:
        base = MemberSpend.spent if measure == "spent" else MemberSpend.orders
        parts = [change, _orders(-order_amount, until, None)]
    else:
        base = MemberSpend.year_spent if measure == "spent" else MemberSpend.year_orders
        year_since = year_end - YEAR
        parts = [
            change.where(
                MemberSpendChange.occurred_at >= year_since,
                MemberSpendChange.occurred_at < year_end,
            ),
            _orders(order_amount, year_end, until),
            _orders(-order_amount, year_since, since),
        ]
    pending = union_all(*parts).subquery("spend_pending")
    delta = (
        select(
            pending.c.member_id,
            cast_(func.sum(pending.c.amount), BigInteger).label("delta"),
        )
        .group_by(pending.c.member_id)
        .subquery("spend_delta")
    )
    value = (base + func.coalesce(delta.c.delta, literal(0))).label("value")
    found: Select[Any, Any] = select(MemberSpend.member_id.label("member_id"), value)
    return found.outerjoin(delta, delta.c.member_id == MemberSpend.member_id)
