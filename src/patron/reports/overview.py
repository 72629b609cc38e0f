"""The overview dashboard (概览): the period's sales and members at a glance, read from the
daily facts (registrations from the members, by their indexed time).

- `sales`: the totals of the orders placed in the period, gross; `refunds`: what was refunded
  in the period (of orders of any day), so `net_sales` = sales − refunds. `member_sales`: the
  totals of members' orders, gross; `member_share` = member_sales / sales (None: no sales).
- `orders`, `aov` = sales / orders in fen (rounded; None: no orders).
- `new_members`: registrations in the period in the stores (a merged-away record is not one);
  not narrowed by `channel`, which is an order channel.
- `active_members`: members with an order that counts (not refunded in full) in the period;
  `repurchase_rate`: the share of them who bought on two business days or more of it.
- `points_liability`, `stored_value_liability`: what the ledgers hold at the end of the
  period (points net of members' debts, stored value principal and bonus), as the sum of every
  day's movements up to then; with stores chosen, the movements made in those stores (what
  they issued less what was spent, expired or refunded there). Not narrowed by `channel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.daily import business_days
from patron.members import queries as members
from patron.reports.models import LedgerDayFacts, MemberDayFacts, SalesDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

DAILY = ("day", "sales", "member_sales", "orders", "new_members", "active_members")


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    sold = _sales(session, query)
    registered = _registrations(session, query)
    active, buyers, repeaters = _members(session, query)
    points, stored_value = _liabilities(session, query)
    sales, member_sales, orders, refunds = (sum(v[i] for v in sold.values()) for i in range(4))
    summary = {
        "sales": sales,
        "refunds": refunds,
        "net_sales": sales - refunds,
        "member_sales": member_sales,
        "member_share": _share(member_sales, sales),
        "orders": orders,
        "aov": (sales + orders // 2) // orders if orders else None,
        "new_members": sum(registered.values()),
        "active_members": buyers,
        "repurchase_rate": _share(repeaters, buyers),
        "points_liability": points,
        "stored_value_liability": stored_value,
    }
    rows = []
    for day in _days(query):
        day_sales, day_member_sales, day_orders, _ = sold.get(day, (0, 0, 0, 0))
        rows.append(
            (
                day,
                day_sales,
                day_member_sales,
                day_orders,
                registered.get(day, 0),
                active.get(day, 0),
            )
        )
    return Result(summary, (Table("daily", DAILY, list(rows)),))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(query: ReportQuery) -> list[date]:
    first = query.period.first
    return [first + timedelta(days=n) for n in range(query.period.days)]


def _in_period(table: Any, query: ReportQuery) -> list[ColumnElement[bool]]:
    """The facts rows of the period, the stores and the channel (for tables with one)."""
    chosen = [table.day >= query.period.first, table.day <= query.period.last]
    if query.store_ids is not None:
        chosen.append(table.store_id.in_(sorted(query.store_ids)))
    if query.channel is not None:
        chosen.append(table.channel == query.channel)
    return chosen


def _sales(session: Session, query: ReportQuery) -> dict[date, tuple[int, int, int, int]]:
    """Per day: sales, member sales, orders, refunds."""
    f = SalesDayFacts
    rows = session.execute(
        select(
            f.day,
            func.sum(f.sales),
            func.sum(f.member_sales),
            func.sum(f.orders),
            func.sum(f.refunded),
        )
        .where(*_in_period(f, query))
        .group_by(f.day)
    )
    return {day: (int(s), int(m), int(o), int(r)) for day, s, m, o, r in rows}


def _registrations(session: Session, query: ReportQuery) -> Mapping[date, int]:
    days = business_days(session, _days(query))
    return members.opened_by_day(session, days, query.store_ids)


def _members(session: Session, query: ReportQuery) -> tuple[dict[date, int], int, int]:
    """Members with an order that counts: per day; in the period; and of them, those who
    bought on two days or more. One read of the facts (the distinct (day, member) pairs, in
    the primary key's order), counted two ways."""
    f = MemberDayFacts
    pairs = (
        select(f.day, f.member_id)
        .where(*_in_period(f, query))
        .group_by(f.day, f.member_id)
        .cte("pairs")
    )
    per_member = (
        select(func.min(pairs.c.day).label("first"), func.max(pairs.c.day).label("last"))
        .group_by(pairs.c.member_id)
        .subquery("per_member")
    )
    again = case((per_member.c.first < per_member.c.last, 1), else_=0)
    rows = session.execute(
        union_all(
            select(pairs.c.day, func.count(), literal(0)).group_by(pairs.c.day),
            select(null(), func.count(), func.coalesce(func.sum(again), 0)).select_from(per_member),
        )
    )
    daily, buyers, repeaters = {}, 0, 0
    for day, count, repeat in rows:
        if day is None:
            buyers, repeaters = int(count), int(repeat)
        else:
            daily[day] = int(count)
    return daily, buyers, repeaters


def _liabilities(session: Session, query: ReportQuery) -> tuple[int, int]:
    """Points and stored value outstanding at the end of the period: every day's movements up
    to it (merges move balances between members and are not movements)."""
    f = LedgerDayFacts
    points = f.points_earned - f.points_burned - f.points_expired + f.points_adjusted
    value = f.sv_recharged + f.sv_bonus - f.sv_spent - f.sv_refunded + f.sv_adjusted
    chosen = [f.day <= query.period.last]
    if query.store_ids is not None:
        chosen.append(f.store_id.in_(sorted(query.store_ids)))
    held_points, held_value = session.execute(
        select(func.coalesce(func.sum(points), 0), func.coalesce(func.sum(value), 0)).where(*chosen)
    ).one()
    return int(held_points), int(held_value)


OVERVIEW = register(
    Report(
        "overview",
        "reports.overview.title",
        build,
        charts=(
            Chart(
                ChartKind.sparkline,
                "daily",
                "day",
                DAILY[1:],
                "reports.overview.chart.trends",
            ),
            Chart(
                ChartKind.line,
                "daily",
                "day",
                ("sales", "member_sales"),
                "reports.overview.chart.sales",
            ),
        ),
        description="Sales, member share, orders, average order value, new and active members, "
        "repurchase rate and the points and stored-value liability, day by day.",
        filters=frozenset({"store", "region", "channel"}),
    )
)
