"""Leaderboards: the stores, and the guides, ranked by their members' sales in the period.

Stores: members opened (registrations with the store as home store), sales and member sales
of the orders placed there (sales facts), the member share, and the repurchase rate of the
members who bought there. Guides: of the members each opened at the query's stores (their
home stores), how many registered in the period, and the sales and repurchase rate of all of
them (opened whenever) from their orders at those stores in the period (member facts: each
order's net of its refunds)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.export import Cell
from patron.members import queries as members
from patron.reports import figures
from patron.reports.models import SalesDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register
from patron.staff import service as staff
from patron.stores import service as stores

STORE_COLUMNS = (
    "rank",
    "store_id",
    "store_code",
    "store_name",
    "new_members",
    "sales",
    "member_sales",
    "member_share",
    "buyers",
    "repurchase_rate",
)
GUIDE_COLUMNS = (
    "rank",
    "guide_id",
    "guide",
    "new_members",
    "member_sales",
    "buyers",
    "repurchase_rate",
)


def build_stores(session: Session, actor: Actor, query: ReportQuery) -> Result:
    names = stores.names_in(session, query.store_ids)
    opened = members.opened_by_store(session, figures.period_days(session, query), query.store_ids)
    sold = figures.sales_by(session, query, SalesDayFacts.store_id)
    bought = figures.buyers_by_store(session, query)
    ranked = sorted(
        names.items(),
        key=lambda item: (
            -sold.get(item[0], figures.Sales()).member_sales,
            -opened.get(item[0], 0),
            item[1][0],
        ),
    )
    rows: list[tuple[Cell, ...]] = []
    for rank, (store_id, (code, name)) in enumerate(ranked, 1):
        sales = sold.get(store_id, figures.Sales())
        buyers = bought.get(store_id, figures.Buyers())
        rows.append(
            (
                rank,
                store_id,
                code,
                name,
                opened.get(store_id, 0),
                sales.sales,
                sales.member_sales,
                sales.member_share,
                buyers.buyers,
                buyers.repurchase_rate,
            )
        )
    total = figures.sales(session, query)
    return Result(
        {
            "stores": len(rows),
            "new_members": sum(opened.get(store_id, 0) for store_id in names),
            "sales": total.sales,
            "member_sales": total.member_sales,
            "member_share": total.member_share,
            "repurchase_rate": figures.buyers(session, query).repurchase_rate,
        },
        [Table("stores", STORE_COLUMNS, rows)],
    )


@dataclass(frozen=True)
class Guide:
    guide_id: int
    name: str | None
    opened: int
    buyers: figures.BuyersWithSales


def guides(session: Session, query: ReportQuery) -> list[Guide]:
    """The guides ranked: by their members' sales, then the members they opened."""
    opened = members.opened_by_guide(session, figures.period_days(session, query), query.store_ids)
    bought = figures.buyers_by_guide(session, query)
    names = staff.names_by_id(session, {*opened, *bought})
    found = [
        Guide(g, names.get(g), opened.get(g, 0), bought.get(g, figures.BuyersWithSales()))
        for g in {*opened, *bought}
    ]
    return sorted(found, key=lambda g: (-g.buyers.sales, -g.opened, g.guide_id))


def guide_rows(ranked: list[Guide]) -> list[tuple[Cell, ...]]:
    return [
        (
            rank,
            g.guide_id,
            g.name,
            g.opened,
            g.buyers.sales,
            g.buyers.buyers,
            g.buyers.repurchase_rate,
        )
        for rank, g in enumerate(ranked, 1)
    ]


def build_guides(session: Session, actor: Actor, query: ReportQuery) -> Result:
    ranked = guides(session, query)
    return Result(
        {
            "guides": len(ranked),
            "new_members": sum(g.opened for g in ranked),
            "member_sales": sum(g.buyers.sales for g in ranked),
        },
        [Table("guides", GUIDE_COLUMNS, guide_rows(ranked))],
    )


ALL_FILTERS = frozenset({"store", "region", "channel"})

register(
    Report(
        "leaderboard_stores",
        "reports.leaderboard_stores.title",
        build_stores,
        charts=(
            Chart(
                ChartKind.bar,
                "stores",
                "store_name",
                ("member_sales",),
                "reports.leaderboard_stores.chart",
            ),
        ),
        description="reports.leaderboard_stores.description",
        filters=ALL_FILTERS,
    )
)
register(
    Report(
        "leaderboard_guides",
        "reports.leaderboard_guides.title",
        build_guides,
        charts=(
            Chart(
                ChartKind.bar,
                "guides",
                "guide",
                ("member_sales",),
                "reports.leaderboard_guides.chart",
            ),
        ),
        description="reports.leaderboard_guides.description",
        filters=ALL_FILTERS,
    )
)
