"""RFM classes and lifecycle stages (`rfm`, `lifecycle`): how many members are in each now
(from their profiles, as of the last profile refresh; active members whose home store is one
of the query's stores), their share of the members, and what the members of each class bought
in the period (in the query's stores and channel): buyers, sales and the class's share of the
member sales. The sales are the facts summed per member and grouped by the member's profile
class in one join (the profiles domain's `totals_by`). A member without RFM scores (no
purchase in the profiles' window) is `unscored`; a member without a profile is a prospect."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.console.message_ids import N_
from patron.core.actor import Actor
from patron.core.export import Cell
from patron.members import queries as members
from patron.profiles import queries as profiles
from patron.profiles.queries import Grouping
from patron.profiles.scoring import Lifecycle, RfmClass
from patron.reports.member_facts import covered, share
from patron.reports.models import MemberDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register

COLUMNS = ("members", "members_share", "buyers", "sales", "sales_share")


def classes(grouping: Grouping) -> Callable[[Session, Actor, ReportQuery], Result]:
    def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
        counted = profiles.distribution(session, members.active_ids_in(query.store_ids))
        if grouping is Grouping.rfm_class:
            names: Sequence[str] = [*(c.value for c in RfmClass), "unscored"]
            held = dict(counted.rfm)
            held["unscored"] = counted.members - sum(counted.rfm.values())
        else:
            names, held = [s.value for s in Lifecycle], counted.lifecycle
        spent = (
            select(MemberDayFacts.member_id, func.sum(MemberDayFacts.net_sales).label("amount"))
            .where(*covered(query))
            .group_by(MemberDayFacts.member_id)
            .subquery("spent")
        )
        bought = {
            name or "unscored": (int(n), int(sales))
            for name, n, sales in session.execute(profiles.totals_by(grouping, spent))
        }
        sales = sum(s for _, s in bought.values())
        rows: list[tuple[Cell, ...]] = []
        for name in names:
            buyers, spent_ = bought.get(name, (0, 0))
            rows.append(
                (
                    name,
                    held.get(name, 0),
                    share(held.get(name, 0), counted.members),
                    buyers,
                    spent_,
                    share(spent_, sales),
                )
            )
        return Result(
            {
                "members": counted.members,
                "buyers": sum(n for n, _ in bought.values()),
                "member_sales": sales,
            },
            (Table("classes", (grouping.value, *COLUMNS), rows),),
        )

    return build


def _charts(grouping: Grouping, members_title: str, sales_title: str) -> tuple[Chart, ...]:
    return (
        Chart(ChartKind.pie, "classes", grouping.value, ("members",), members_title),
        Chart(
            ChartKind.bar,
            "classes",
            grouping.value,
            ("members_share", "sales_share"),
            sales_title,
        ),
    )


register(
    Report(
        "rfm",
        N_("reports.rfm.title"),
        classes(Grouping.rfm_class),
        _charts(Grouping.rfm_class, N_("reports.rfm.members"), N_("reports.rfm.shares")),
        description=N_("reports.rfm.description"),
        filters=frozenset({"store", "region", "channel"}),
    )
)
register(
    Report(
        "lifecycle",
        N_("reports.lifecycle.title"),
        classes(Grouping.lifecycle),
        _charts(
            Grouping.lifecycle, N_("reports.lifecycle.members"), N_("reports.lifecycle.shares")
        ),
        description=N_("reports.lifecycle.description"),
        filters=frozenset({"store", "region", "channel"}),
    )
)
