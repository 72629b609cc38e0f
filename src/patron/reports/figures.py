"""Figures several reports share, each one grouped query over the daily facts (or one call of
the owning domain) for a ReportQuery: its business days, its stores (None: every store and the
"no store" rows) and its order channel where the figure has one.

Definitions (money in fen, shares 0–1, None where the base is zero), the overview's:
- sales: totals of the orders placed in the period (gross); refunds: what was refunded in it
  (of orders of any day); net_sales = sales − refunds; member_sales the members' orders'
  totals (gross); member_share = member_sales / sales; aov = sales / orders, rounded half up.
- buyers: members with an order that counts (not wholly refunded) in the period; repeat
  buyers: those who bought on two business days or more of it; repurchase_rate = repeat /
  buyers. Per store, a member counts at each store they bought at, with their days there.
- new members: registrations in the period (merged duplicates left out), by home store;
  registrations have no order channel."""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    case,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.core.daily import BusinessDays, business_days
from patron.core.export import Cell
from patron.members import queries as members
from patron.points import queries as points
from patron.reports import linked
from patron.reports.linked import Buyers
from patron.reports.models import LedgerDayFacts, MemberDayFacts, SalesDayFacts
from patron.reports.query import Period, ReportQuery
from patron.reports.registry import Table
from patron.stored_value import queries as stored_value
from patron.stored_value import reports as stored_value_reports


def days_of(period: Period) -> list[date]:
    return [period.first + timedelta(days=n) for n in range(period.days)]


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def scoped(actor: Actor, query: ReportQuery) -> Actor:
    """The actor seeing only the query's stores (already within the actor's own): for the
    domains' reports, which scope by their actor."""
    return replace(actor, store_ids=query.store_ids)


def _where(facts: Any, query: ReportQuery, *, channel: bool) -> list[ColumnElement[bool]]:
    conditions = [facts.day >= query.period.first, facts.day <= query.period.last]
    if query.store_ids is not None:
        conditions.append(facts.store_id.in_(query.store_ids))
    if channel and query.channel is not None:
        conditions.append(facts.channel == query.channel)
    return conditions


@dataclass(frozen=True)
class Sales:
    orders: int = 0
    placed: int = 0  # totals of the orders placed
    refunded: int = 0  # refunds made
    member_orders: int = 0
    member_placed: int = 0
    member_refunded: int = 0

    def __add__(self, other: Sales) -> Sales:
        return Sales(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def sales(self) -> int:
        return self.placed

    @property
    def refunds(self) -> int:
        return self.refunded

    @property
    def net_sales(self) -> int:
        return self.placed - self.refunded

    @property
    def member_sales(self) -> int:
        return self.member_placed

    @property
    def member_share(self) -> float | None:
        return share(self.member_placed, self.placed)

    @property
    def aov(self) -> int | None:
        return (self.placed + self.orders // 2) // self.orders if self.orders else None


_SALES = (
    SalesDayFacts.orders,
    SalesDayFacts.sales,
    SalesDayFacts.refunded,
    SalesDayFacts.member_orders,
    SalesDayFacts.member_sales,
    SalesDayFacts.member_refunded,
)


def sales_by(session: Session, query: ReportQuery, key: Any) -> dict[Any, Sales]:
    """Sales per value of `key` (SalesDayFacts.day, .store_id or .channel)."""
    sums = [func.sum(column) for column in _SALES]
    rows = session.execute(
        select(key, *sums).where(*_where(SalesDayFacts, query, channel=True)).group_by(key)
    )
    return {k: Sales(*(int(v or 0) for v in values)) for k, *values in rows}


def sales(session: Session, query: ReportQuery) -> Sales:
    sums = [func.coalesce(func.sum(column), 0) for column in _SALES]
    row = session.execute(select(*sums).where(*_where(SalesDayFacts, query, channel=True))).one()
    return Sales(*(int(v) for v in row))


@dataclass(frozen=True)
class BuyersWithSales(Buyers):
    sales: int = 0  # their orders' net


def _per_member(query: ReportQuery, *by: Any) -> Any:
    """Each member's first and last business day of purchase and net in the period (per `by`
    too), those with any."""
    return (
        select(
            MemberDayFacts.member_id,
            *by,
            func.min(MemberDayFacts.day).label("first"),
            func.max(MemberDayFacts.day).label("last"),
            func.sum(MemberDayFacts.net_sales).label("net_sales"),
        )
        .where(*_where(MemberDayFacts, query, channel=True))
        .group_by(MemberDayFacts.member_id, *by)
    )


def _buyers(per_member: Any, *key: Any) -> Any:
    again = case((per_member.c.first < per_member.c.last, 1), else_=0)
    return select(
        *key,
        func.count(),
        func.coalesce(func.sum(again), 0),
        func.coalesce(func.sum(per_member.c.net_sales), 0),
    ).group_by(*key)


def buyers_with_daily(session: Session, query: ReportQuery) -> tuple[Buyers, dict[date, int]]:
    """The period's buyers, and each day's: one read of the facts (the (day, member) pairs, in
    the key's order), counted two ways. Chain-wide or for one store, counts of the linked
    member days."""
    days = linked.linked_days(query)
    if days is not None:
        return linked.buyers_with_daily(session, days, query.period)
    facts = MemberDayFacts
    pairs = (
        select(facts.day, facts.member_id)
        .where(*_where(facts, query, channel=True))
        .group_by(facts.day, facts.member_id)
        .cte("pairs")
    )
    per_member = (
        select(
            func.min(pairs.c.day).label("first"),
            func.max(pairs.c.day).label("last"),
        )
        .group_by(pairs.c.member_id)
        .subquery("per_member")
    )
    again = case((per_member.c.first < per_member.c.last, 1), else_=0)
    # Typed, so that the union's days come back as dates on SQLite too.
    totals = select(
        func.count(), func.coalesce(func.sum(again), 0), type_coerce(null(), Date).label("day")
    )
    daily = select(func.count(), literal(0), pairs.c.day).group_by(pairs.c.day)
    found, by_day = Buyers(), {}
    for count, repeat, day in session.execute(union_all(totals, daily)):
        if day is None:
            found = Buyers(int(count), int(repeat))
        else:
            by_day[day] = int(count)
    return found, by_day


def buyers(session: Session, query: ReportQuery) -> Buyers:
    days = linked.linked_days(query)
    if days is not None:
        return linked.buyers(session, days, query.period)
    per_member = _per_member(query).subquery()
    count, repeat, _ = session.execute(_buyers(per_member)).one()
    return Buyers(int(count), int(repeat))


def buyers_by_store(session: Session, query: ReportQuery) -> dict[int, Buyers]:
    """Per store: its buyers in the period (a member counts at each store they bought at,
    with their days there) and its repeat buyers."""
    if query.channel is None:
        return linked.buyers_by_store(session, query.store_ids, query.period)
    per_member = _per_member(query, MemberDayFacts.store_id).subquery()
    rows = session.execute(_buyers(per_member, per_member.c.store_id))
    return {store_id: Buyers(int(n), int(r)) for store_id, n, r, _ in rows}


def buyers_by_guide(session: Session, query: ReportQuery) -> dict[int, BuyersWithSales]:
    """Per opening guide: the members the guide opened at the query's stores who bought
    there in the period, their repeat buyers and net."""
    guides = members.opening_guides(query.store_ids).subquery()
    linked_days = linked.linked_days(query)
    if linked_days is not None:
        return _linked_buyers_by_guide(session, query, linked_days, guides)
    per_member = _per_member(query).subquery()
    statement = _buyers(per_member, guides.c.guide_id).join_from(
        per_member, guides, guides.c.member_id == per_member.c.member_id
    )
    rows = session.execute(statement)
    return {guide_id: BuyersWithSales(*(int(v) for v in values)) for guide_id, *values in rows}


def _linked_buyers_by_guide(
    session: Session, query: ReportQuery, linked_days: linked.Linked, guides: Any
) -> dict[int, BuyersWithSales]:
    """The guides' buyers counted over the linked days, their net summed from the member
    facts: neither groups per member."""
    days, period = linked_days.days, query.period
    counts = session.execute(
        select(
            guides.c.guide_id,
            linked.counted(linked_days.first_in(period)),
            linked.counted(linked_days.again_in(period)),
        )
        .join_from(days, guides, guides.c.member_id == days.member_id)
        .where(*linked_days.between(period.first, period.last))
        .group_by(guides.c.guide_id)
    )
    net: dict[int, int] = dict(
        session.execute(
            select(guides.c.guide_id, func.sum(MemberDayFacts.net_sales))
            .join_from(MemberDayFacts, guides, guides.c.member_id == MemberDayFacts.member_id)
            .where(*_where(MemberDayFacts, query, channel=True))
            .group_by(guides.c.guide_id)
        ).all()
    )
    return {
        guide_id: BuyersWithSales(int(n), int(r), int(net.get(guide_id) or 0))
        for guide_id, n, r in counts
    }


DAILY = ("day", "sales", "member_sales", "orders", "new_members", "active_members")


def daily_table(
    query: ReportQuery,
    sold: dict[date, Sales],
    registered: dict[date, int],
    active: dict[date, int],
) -> Table:
    """Every day of the period: sales, member sales, orders, registrations, buyers."""
    rows: list[tuple[Cell, ...]] = []
    for day in days_of(query.period):
        sales = sold.get(day, Sales())
        row = (day, sales.sales, sales.member_sales, sales.orders)
        rows.append((*row, registered.get(day, 0), active.get(day, 0)))
    return Table("daily", DAILY, rows)


def period_days(session: Session, query: ReportQuery) -> BusinessDays:
    return business_days(session, days_of(query.period))


def new_members(session: Session, query: ReportQuery) -> int:
    opened = members.opened_by_store(session, period_days(session, query), query.store_ids)
    return sum(opened.values())


def new_members_by_day(session: Session, query: ReportQuery) -> dict[date, int]:
    return members.opened_by_day(session, period_days(session, query), query.store_ids)


# Ledger movements (no order channel: the ledgers' facts have none).
POINTS = ("points_earned", "points_burned", "points_expired", "points_adjusted")
STORED_VALUE = ("sv_recharged", "sv_bonus", "sv_spent", "sv_refunded", "sv_adjusted")


def ledger_by_day(
    session: Session, query: ReportQuery, columns: tuple[str, ...]
) -> dict[date, tuple[int, ...]]:
    sums = [func.sum(getattr(LedgerDayFacts, column)) for column in columns]
    rows = session.execute(
        select(LedgerDayFacts.day, *sums)
        .where(*_where(LedgerDayFacts, query, channel=False))
        .group_by(LedgerDayFacts.day)
    )
    return {day: tuple(int(v or 0) for v in values) for day, *values in rows}


def points_liability(session: Session, query: ReportQuery) -> points.Liability:
    """Points held now (spendable and pending) of the lots earned at the query's stores."""
    return points.liability(session, query.store_ids)


def stored_value_liability(
    session: Session, actor: Actor, query: ReportQuery
) -> stored_value.Balance:
    """What members hold now: chain-wide the accounts' sums; for some stores, what remains of
    the money recharged there (stored value's attribution, a pass over the accounts)."""
    if query.store_ids is None:
        return stored_value.held(session)
    totals = stored_value_reports.liability(session, scoped(actor, query)).totals
    return stored_value.Balance(totals.principal, totals.bonus)
