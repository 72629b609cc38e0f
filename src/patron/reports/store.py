"""A store's own page (a store manager's daily look): its sales, member sales and share,
orders, AOV, new and active members and repurchase over the period, day by day, and its top
guides. It is of exactly one store: a manager of one store gets theirs; anyone else names it
with `store_id`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.reports import figures, leaderboards
from patron.reports.models import SalesDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

TOP_GUIDES = 10


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    if query.store_ids is None or len(query.store_ids) != 1:
        raise InvalidInput(
            "store_id",
            "the store page is one store's: choose it with store_id",
            code=Reason.store_required,
        )
    total = figures.sales(session, query)
    buyers, active = figures.buyers_with_daily(session, query)
    sold = figures.sales_by(session, query, SalesDayFacts.day)
    opened = figures.new_members_by_day(session, query)
    guides = leaderboards.guide_rows(leaderboards.guides(session, query)[:TOP_GUIDES])
    return Result(
        {
            "sales": total.sales,
            "refunds": total.refunds,
            "net_sales": total.net_sales,
            "member_sales": total.member_sales,
            "member_share": total.member_share,
            "orders": total.orders,
            "aov": total.aov,
            "new_members": sum(opened.values()),
            "active_members": buyers.buyers,
            "repurchase_rate": buyers.repurchase_rate,
        },
        [
            figures.daily_table(query, sold, opened, active),
            Table("top_guides", leaderboards.GUIDE_COLUMNS, guides),
        ],
    )


register(
    Report(
        "store",
        "reports.store.title",
        build,
        charts=(
            Chart(
                ChartKind.line,
                "daily",
                "day",
                ("sales", "member_sales"),
                "reports.store.chart.sales",
            ),
            Chart(
                ChartKind.bar,
                "daily",
                "day",
                ("new_members", "active_members"),
                "reports.store.chart.members",
            ),
        ),
        description="reports.store.description",
        filters=leaderboards.ALL_FILTERS,
    )
)
