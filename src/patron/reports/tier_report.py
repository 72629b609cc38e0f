"""The tier distribution (`tiers`): active members per tier that counts and home store now,
and the tier history's movements per business month of the period, by reason and from/to tier;
the tiers domain's two grouped queries (`tiers.reports.distribution_of`) over the members whose
home store is one of the query's stores. `holdings` and `movements` stay at the answer's top
level, as the tier report's own route answered them. Members hold tiers whatever channel they
buy in, so the channel filter does not apply; holdings are now, so there is no comparison."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.console.message_ids import N_
from patron.core.actor import Actor
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register
from patron.tiers import reports as tiers
from patron.tiers.models import ChangeReason

REASONS = tuple(r.value for r in ChangeReason)  # upgrade and downgrade first


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    period = query.period
    found = tiers.distribution_of(session, query.store_ids, period.first, period.last)
    holdings = Table("holdings", tiers.HOLDING_COLUMNS, list(tiers.holding_rows(found)))  # type: ignore[arg-type]
    movements = Table("movements", tiers.MOVEMENT_COLUMNS, list(tiers.movement_rows(found)))  # type: ignore[arg-type]
    per_tier = tiers.members_per_tier(found)
    per_month = tiers.changes_per_month(found)
    monthly = [
        (month, *(per_month.get(month, {}).get(r, 0) for r in REASONS))
        for month in tiers.month_labels(period.first, period.last)
    ]
    return Result(
        {
            "members": sum(per_tier.values()),
            "upgrades": sum(row[1] for row in monthly),
            "downgrades": sum(row[2] for row in monthly),
            "holdings": holdings.as_dicts(),
            "movements": movements.as_dicts(),
        },
        (
            holdings,
            movements,
            Table("per_tier", ("tier", "members"), list(per_tier.items())),
            Table("per_month", ("month", *REASONS), monthly),  # type: ignore[arg-type]
        ),
    )


register(
    Report(
        "tiers",
        N_("reports.tiers.title"),
        build,
        (
            Chart(ChartKind.pie, "per_tier", "tier", ("members",), N_("reports.tiers.members")),
            Chart(
                ChartKind.stacked_bar,
                "per_month",
                "month",
                REASONS,
                N_("reports.tiers.movements"),
            ),
        ),
        comparable=False,
        description=N_("reports.tiers.description"),
    )
)
