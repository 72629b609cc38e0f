"""How much a treatment changed what members did, against a held-out control group.

Per group: members, converters (members who bought in the window) and their revenue (the sum,
and the sum of squares of each member's revenue, so the variance needs no second pass).
Compared:
- conversion: the difference of two proportions with the unpooled normal (Wald) interval;
- revenue per member: the difference of two means with Welch's interval (Student's t with the
  Welch–Satterthwaite degrees of freedom), members without a purchase counted as 0;
- relative uplift (treated / control − 1) of both, with an interval by the delta method
  (first-order Taylor expansion of the ratio, normal quantile);
- incremental revenue = (revenue per treated − revenue per control) × treated members.

A figure that cannot be formed (an empty control, a control that never bought) is None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import stats
from sqlalchemy import Float, Select, and_, cast, func, select
from sqlalchemy.orm import Session

from patron.orders import queries as orders


@dataclass(frozen=True)
class Group:
    members: int
    converters: int
    revenue: int  # fen: the members' revenue in the window
    revenue_sq: float  # the sum of the squares of each member's revenue (fen²)

    @property
    def conversion_rate(self) -> float | None:
        return self.converters / self.members if self.members else None

    @property
    def revenue_per_member(self) -> float | None:
        return self.revenue / self.members if self.members else None

    def revenue_variance(self) -> float | None:
        """The sample variance of a member's revenue (n − 1), None below two members."""
        if self.members < 2:
            return None
        mean = self.revenue / self.members
        # Cancellation can leave a hair below zero when every member spent the same.
        return max(self.revenue_sq - self.members * mean * mean, 0.0) / (self.members - 1)


Interval = tuple[float, float]


@dataclass(frozen=True)
class Effect:
    """One measure in both groups and how they differ."""

    treated: float | None
    control: float | None
    absolute: float | None  # treated − control
    absolute_ci: Interval | None
    relative: float | None  # treated / control − 1
    relative_ci: Interval | None


@dataclass(frozen=True)
class Uplift:
    confidence: float
    conversion: Effect
    revenue_per_member: Effect
    incremental_revenue: int | None  # fen
    incremental_revenue_ci: Interval | None


def group_facts(session: Session, members: Select[Any, Any, Any], days: int) -> tuple[Group, Group]:
    """(treated, control) of `members`, a selection of (member_id, in_control, start): each
    member's revenue is their counted orders' net in [start, start + `days` days), and a
    converter is a member with some of it. Any set works: a campaign's audience (one start, its
    launch), a journey's entries (each its own start; a member entering twice counts twice, each
    (member_id, start) once). A campaign's start as a constant lets PostgreSQL read only the
    window's orders (1,000,000 members over 10M orders: 3 s, against 15 s with the starts
    de-duplicated first)."""
    given = members.subquery("audience")
    member_id, in_control, start = given.c
    dialect = session.get_bind().dialect.name
    bought = orders.purchases_in_windows(select(member_id, start), days, dialect)
    purchases = bought.subquery("purchases")
    net = cast(func.coalesce(purchases.c.net, 0), Float)
    query = (
        select(
            in_control,
            func.count(),
            func.count(purchases.c.net),
            func.coalesce(func.sum(purchases.c.net), 0),
            func.coalesce(func.sum(net * net), 0.0),
        )
        .select_from(given)
        .outerjoin(
            purchases,
            and_(purchases.c[0] == member_id, purchases.c[1] == start),
        )
        .group_by(in_control)
    )
    found = {
        bool(row[0]): Group(int(row[1]), int(row[2]), int(row[3]), float(row[4]))
        for row in session.execute(query)
    }
    empty = Group(0, 0, 0, 0.0)
    return found.get(False, empty), found.get(True, empty)


def compare(treated: Group, control: Group, confidence: float = 0.95) -> Uplift:
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    conversion = _conversion(treated, control, z)
    revenue = _revenue(treated, control, confidence, z)
    if revenue.absolute is None:
        return Uplift(confidence, conversion, revenue, None, None)
    ci = revenue.absolute_ci
    return Uplift(
        confidence,
        conversion,
        revenue,
        round(revenue.absolute * treated.members),
        (ci[0] * treated.members, ci[1] * treated.members) if ci else None,
    )


def _conversion(treated: Group, control: Group, z: float) -> Effect:
    p_t, p_c = treated.conversion_rate, control.conversion_rate
    if p_t is None or p_c is None:
        return Effect(p_t, p_c, None, None, None, None)
    var_t = p_t * (1 - p_t) / treated.members
    var_c = p_c * (1 - p_c) / control.members
    difference = p_t - p_c
    half = z * math.sqrt(var_t + var_c)
    relative, relative_ci = _ratio(p_t, p_c, var_t, var_c, z)
    absolute_ci = (difference - half, difference + half)
    return Effect(p_t, p_c, difference, absolute_ci, relative, relative_ci)


def _revenue(treated: Group, control: Group, confidence: float, z: float) -> Effect:
    m_t, m_c = treated.revenue_per_member, control.revenue_per_member
    if m_t is None or m_c is None:
        return Effect(m_t, m_c, None, None, None, None)
    difference = m_t - m_c
    s2_t, s2_c = treated.revenue_variance(), control.revenue_variance()
    if s2_t is None or s2_c is None:
        return Effect(m_t, m_c, difference, None, _relative(m_t, m_c), None)
    var_t, var_c = s2_t / treated.members, s2_c / control.members
    se = math.sqrt(var_t + var_c)
    if se == 0:
        absolute_ci = (difference, difference)
    else:
        df = se**4 / (var_t**2 / (treated.members - 1) + var_c**2 / (control.members - 1))
        half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
        absolute_ci = (difference - half, difference + half)
    relative, relative_ci = _ratio(m_t, m_c, var_t, var_c, z)
    return Effect(m_t, m_c, difference, absolute_ci, relative, relative_ci)


def _relative(treated: float, control: float) -> float | None:
    return treated / control - 1 if control else None


def _ratio(
    treated: float, control: float, var_t: float, var_c: float, z: float
) -> tuple[float | None, Interval | None]:
    """treated / control − 1 and its delta-method interval, from the variances of the two
    estimates: Var(T/C) ≈ Var(T)/C² + T²·Var(C)/C⁴."""
    if not control:
        return None, None
    relative = treated / control - 1
    half = z * math.sqrt(var_t / control**2 + treated**2 * var_c / control**4)
    return relative, (relative - half, relative + half)
