"""80/20: how concentrated members' sales are. Over the members who bought in the period (in
the query's stores and channel), each with their net sales: the share of the sales from the
top 20% of them (`top20_share`; ⌈n/5⌉ buyers), the Gini coefficient of their sales, and the
Lorenz curve (the share of the sales of the bottom p% of buyers, p = 0, 1, …, 100).

One statement: the buyers' sums ranked by a window (SQLite ≥ 3.25, PostgreSQL), folded into
the 100 percentile buckets in SQL, so only ~100 rows reach Python whatever the buyers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.orm import Session

from patron.console.message_ids import N_
from patron.core.actor import Actor
from patron.reports.member_facts import covered
from patron.reports.models import MemberDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

POINTS = 100


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    buckets = _buckets(session, query)
    buyers = max((b["last"] for b in buckets), default=0)
    sales = max((b["cumulative"] for b in buckets), default=0)
    top = sum(b["top"] for b in buckets)
    weighted = sum(b["weighted"] for b in buckets)
    curve = _curve(buckets, sales)
    return Result(
        {
            "buyers": buyers,
            "member_sales": sales,
            "top20_share": round(top / sales, 4) if sales else 0.0,
            "gini": _gini(weighted, buyers, sales),
            "curve": [{"buyers_share": x, "sales_share": y} for x, y in curve],
        },
        (Table("curve", ("buyers_share", "sales_share"), curve),),  # type: ignore[arg-type]
    )


def _buckets(session: Session, query: ReportQuery) -> list[dict[str, Any]]:
    """Per percentile bucket b = ⌈100 i / n⌉ of the buyers ranked by sales ascending (i from
    1): the highest rank and cumulative sales in it, its sales among the top ⌈n/5⌉, and
    Σ i × sales (for the Gini)."""
    spent = (
        select(MemberDayFacts.member_id, func.sum(MemberDayFacts.net_sales).label("sales"))
        .where(*covered(query))
        .group_by(MemberDayFacts.member_id)
        .subquery("spent")
    )
    order = (spent.c.sales, spent.c.member_id)
    ranked = select(
        spent.c.sales,
        func.row_number().over(order_by=order).label("i"),
        func.count().over().label("n"),
        func.sum(spent.c.sales).over(order_by=order, rows=(None, 0)).label("cumulative"),
    ).subquery("ranked")
    i, n = ranked.c.i, ranked.c.n
    bucket = ((i * POINTS + n - 1) // n).label("bucket")
    in_top = i > n - (n + 4) // 5
    rows = session.execute(
        select(
            bucket,
            func.max(i),
            func.max(ranked.c.cumulative),
            func.sum(case((in_top, ranked.c.sales), else_=0)),
            func.sum(cast(i, Float) * ranked.c.sales),
        ).group_by(bucket)
    )
    keys = ("bucket", "last", "cumulative", "top")
    return [
        {**dict(zip(keys, (int(v) for v in row[:4]), strict=True)), "weighted": float(row[4])}
        for row in rows
    ]


def _curve(buckets: list[dict[str, Any]], sales: int) -> list[tuple[float, float]]:
    """(p/100, share of the sales of the bottom ⌊p n / 100⌋ buyers) for p = 0…100: the bottom
    of p% are the buyers of the buckets up to p."""
    upto = {b["bucket"]: b["cumulative"] for b in buckets}
    points = [(0.0, 0.0)]
    cumulative = 0
    for p in range(1, POINTS + 1):
        cumulative = upto.get(p, cumulative)
        points.append((p / POINTS, round(cumulative / sales, 4) if sales else 0.0))
    return points


def _gini(weighted: float, n: int, sales: int) -> float:
    """G = 2 Σ i xᵢ / (n Σ x) − (n + 1) / n, x ascending."""
    if not n or not sales:
        return 0.0
    return round(2 * weighted / (n * sales) - (n + 1) / n, 4)


register(
    Report(
        "pareto",
        N_("reports.pareto.title"),
        build,
        (
            Chart(
                ChartKind.lorenz,
                "curve",
                "buyers_share",
                ("sales_share",),
                N_("reports.pareto.lorenz"),
            ),
        ),
        description=N_("reports.pareto.description"),
        filters=frozenset({"store", "region", "channel"}),
    )
)
