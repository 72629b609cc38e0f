"""Member growth and conversion: the period's registrations per business day, registration
channel, home store and opening guide, and how many of them made their first counted purchase
within 30 days of registering.

The registrations are the members domain's (`registered_on`); each new member's first purchase
is the earliest day of their facts, read by the facts' (member_id, day) index. One statement:
the new members flagged once, then grouped four ways. The channel filter does not apply: a
registration's channel is the member's (store, online, mini program, import), not an order's."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import String, case, cast, func, literal, select, union_all
from sqlalchemy.orm import Session

from patron.console.message_ids import N_
from patron.core.actor import Actor
from patron.core.daily import business_days
from patron.core.export import Cell
from patron.members import queries as members
from patron.reports.member_facts import days_apart, days_of, share, store_names
from patron.reports.models import MemberDayFacts
from patron.reports.query import ReportQuery
from patron.reports.registry import Chart, ChartKind, Report, Result, Table, register
from patron.staff import service as staff

CONVERSION_DAYS = 30
DIMENSIONS = ("day", "channel", "store_id", "guide_id")
RATE_COLUMNS = ("new_members", "converted_30d", "conversion_rate")


def build(session: Session, actor: Actor, query: ReportQuery) -> Result:
    days = days_of(query.period)
    counts = _counts(session, query)
    new = sum(n for n, _ in counts["channel"].values())
    converted = sum(c for _, c in counts["channel"].values())
    stores = store_names(session, (int(s) for s in counts["store_id"] if s))
    guides = staff.usernames_by_id(session, [int(g) for g in counts["guide_id"] if g])
    daily = [(day, *counts["day"].get(day.isoformat(), (0, 0))) for day in days]
    return Result(
        {"new_members": new, "converted_30d": converted, "conversion_rate": share(converted, new)},
        (
            Table("daily", ("day", "new_members", "converted_30d"), daily),  # type: ignore[arg-type]
            Table("by_channel", ("channel", *RATE_COLUMNS), _rows(counts["channel"], str)),
            Table(
                "by_store",
                ("store_id", "store_code", "store_name", *RATE_COLUMNS),
                [
                    (store_id, *stores.get(store_id, (None, None)), *rest)  # type: ignore[arg-type]
                    for store_id, *rest in _rows(counts["store_id"], int)
                ],
            ),
            Table(
                "by_guide",
                ("guide_id", "guide", *RATE_COLUMNS),
                [
                    (guide_id, guides.get(guide_id), *rest)  # type: ignore[arg-type]
                    for guide_id, *rest in _rows(counts["guide_id"], int)
                ],
            ),
        ),
    )


def _counts(session: Session, query: ReportQuery) -> dict[str, dict[str | None, tuple[int, int]]]:
    """Per dimension and value (as text): (new members, converted within 30 days)."""
    new = members.registered_on(
        business_days(session, days_of(query.period)), query.store_ids
    ).subquery("new")
    first = (
        select(func.min(MemberDayFacts.day))
        .where(MemberDayFacts.member_id == new.c.id)
        .scalar_subquery()
    )
    apart = days_apart(session, new.c.day, first)
    converted = case((apart.between(0, CONVERSION_DAYS), 1), else_=0)
    flagged = select(*(new.c[name] for name in DIMENSIONS), converted.label("converted")).cte(
        "flagged"
    )
    grouped = union_all(
        *(
            select(
                literal(name).label("dimension"),
                cast(flagged.c[name], String).label("value"),
                func.count(),
                func.sum(flagged.c.converted),
            ).group_by(flagged.c[name])
            for name in DIMENSIONS
        )
    )
    counts: dict[str, dict[str | None, tuple[int, int]]] = defaultdict(dict)
    for dimension, value, n, done in session.execute(grouped):
        counts[dimension][value] = (int(n), int(done or 0))
    return {name: counts[name] for name in DIMENSIONS}


def _rows(counts: dict[str | None, tuple[int, int]], kind: type) -> list[tuple[Cell, ...]]:
    """Most registrations first; None (no store, no guide) last among equals."""
    rows: list[tuple[Any, ...]] = [
        (None if value is None else kind(value), n, done, share(done, n))
        for value, (n, done) in counts.items()
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0] is None, str(r[0])))


register(
    Report(
        "growth",
        N_("reports.growth.title"),
        build,
        (
            Chart(ChartKind.line, "daily", "day", ("new_members",), N_("reports.growth.daily")),
            Chart(
                ChartKind.pie,
                "by_channel",
                "channel",
                ("new_members",),
                N_("reports.growth.channel"),
            ),
            Chart(
                ChartKind.bar,
                "by_store",
                "store_code",
                ("new_members", "converted_30d"),
                N_("reports.growth.store"),
            ),
            Chart(
                ChartKind.bar,
                "by_guide",
                "guide",
                ("new_members", "converted_30d"),
                N_("reports.growth.guide"),
            ),
        ),
        description=N_("reports.growth.description"),
    )
)
