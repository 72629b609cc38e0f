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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.reports import figures
from patron.reports.models import LedgerDayFacts, SalesDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, register

DAILY = figures.DAILY


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    sold = figures.sales_by(session, query, SalesDayFacts.day)
    total = sum(sold.values(), figures.Sales())
    registered = figures.new_members_by_day(session, query)
    buyers, active = figures.buyers_with_daily(session, query)
    points, stored_value = _liabilities(session, query)
    summary = {
        "sales": total.sales,
        "refunds": total.refunds,
        "net_sales": total.net_sales,
        "member_sales": total.member_sales,
        "member_share": total.member_share,
        "orders": total.orders,
        "aov": total.aov,
        "new_members": sum(registered.values()),
        "active_members": buyers.buyers,
        "repurchase_rate": buyers.repurchase_rate,
        "points_liability": points,
        "stored_value_liability": stored_value,
    }
    return Result(summary, (figures.daily_table(query, sold, registered, active),))


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
