"""RFM classes and lifecycle stages (`rfm`, `lifecycle`): how many members are in each now
(from their profiles, as of the last profile refresh; active members whose home store is one
of the query's stores), their share of the members, and what the members of each class bought
in the period (in the query's stores and channel): buyers, sales and the class's share of the
member sales. Members and sales are each one grouped join of the members (or the facts summed
per member) with the profiles (the profiles domain's `totals_by`). A member without RFM scores (no
purchase in the profiles' window) is `unscored`; a member without a profile is a prospect."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Subquery, func, literal, select
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

UNSCORED = "unscored"
COLUMNS = ("members", "members_share", "buyers", "sales", "sales_share")
NAMES = {
    Grouping.rfm_class: (*(c.value for c in RfmClass), UNSCORED),
    Grouping.lifecycle: tuple(s.value for s in Lifecycle),
}


def classes(grouping: Grouping) -> Callable[[Session, Actor, ReportQuery], Result]:
    def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
        scope = members.active_ids_in(query.store_ids).subquery("scope")
        everyone = select(scope.c.id.label("member_id"), literal(0).label("amount"))
        held = _per_class(session, grouping, everyone.subquery("everyone"))
        spent = (
            select(MemberDayFacts.member_id, func.sum(MemberDayFacts.net_sales).label("amount"))
            .where(*covered(query))
            .group_by(MemberDayFacts.member_id)
            .subquery("spent")
        )
        bought = _per_class(session, grouping, spent)
        sales = sum(s for _, s in bought.values())
        total = sum(n for n, _ in held.values())
        rows: list[tuple[Cell, ...]] = []
        for name in NAMES[grouping]:
            n = held.get(name, (0, 0))[0]
            buyers, spent_ = bought.get(name, (0, 0))
            rows.append((name, n, share(n, total), buyers, spent_, share(spent_, sales)))
        return Result(
            {
                "members": total,
                "buyers": sum(n for n, _ in bought.values()),
                "member_sales": sales,
            },
            (Table("classes", (grouping.value, *COLUMNS), rows),),
        )

    return build


def _per_class(
    session: Session, grouping: Grouping, amounts: Subquery
) -> dict[str, tuple[int, int]]:
    """Members and their amounts' sum per class, members without RFM scores `unscored`."""
    rows = session.execute(profiles.totals_by(grouping, amounts))
    return {name or UNSCORED: (int(n), int(total)) for name, n, total in rows}


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
