"""A parsed rule to one SQL query: SELECT members.id of the active members it matches.

Values reach the query as bound parameters only; table and column names come from the domains'
query functions, never from the rule. Names the rule holds (tier codes, store codes, guides'
usernames, categories) are looked up first, so the query compares ids on indexed columns.

- Fields of the member (store, guide, channel, registered_days, birthday_month) are columns of
  `members`; profile fields come from a left join of the member's profile (no profile: no
  purchase, the prospect's values); tier, points and stored value from left joins of the
  domains' per-member rows.
- `recency_days` and `registered_days` compare the timestamp with bounds computed here from
  `now` (whole days of 24 hours), `birthday_month` the readable "MM-DD" with text bounds: no
  date arithmetic in SQL, the same on SQLite and PostgreSQL, and index-friendly.
- Behaviour (`spent`, `orders`, `bought`, `coupon`, `tag`, `consent`, `attr`) is a correlated
  EXISTS over one set-based subquery (a semi-join, or an anti-join under `not`, on PostgreSQL;
  never NOT IN); `spent`/`orders` compare each member's value in the window (the window's orders
  grouped by member, or the members' sums over all time or the year: `orders.behaviour`), or,
  when the comparison holds for a member with nothing in the window (`spent(...) < 100`), leave
  out the members for whom it fails.

Two-valued logic: each comparison is true or false, never NULL (a missing value compares false),
so `not` is plain negation, as in the Python evaluator of the tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    false,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.coupons import holding as coupons
from patron.coupons.models import CouponStatus
from patron.members import attributes, consents
from patron.members.models import Member, MemberStatus
from patron.orders import behaviour
from patron.points import queries as points
from patron.profiles import queries as profiles
from patron.segments.rules import (
    And,
    Between,
    Call,
    Compare,
    Field,
    In,
    Not,
    Or,
    Rule,
    Value,
)
from patron.staff import service as staff
from patron.stored_value import queries as stored_value
from patron.stores import service as stores
from patron.tags import queries as tags
from patron.tiers import ladder, standing

DAY = timedelta(days=1)
# An unbounded side of an integer interval.
Interval = tuple[int | None, int | None]


def intervals(op: str, value: int) -> list[Interval]:
    """The integers `x op value` holds for, as closed intervals (None: unbounded)."""
    table: dict[str, list[Interval]] = {
        "=": [(value, value)],
        "!=": [(None, value - 1), (value + 1, None)],
        "<": [(None, value - 1)],
        "<=": [(None, value)],
        ">": [(value + 1, None)],
        ">=": [(value, None)],
    }
    return table[op]


def holds(op: str, left: Any, right: Any) -> bool:
    """`left op right` in Python (both present)."""
    return bool(
        {
            "=": lambda: left == right,
            "!=": lambda: left != right,
            "<": lambda: left < right,
            "<=": lambda: left <= right,
            ">": lambda: left > right,
            ">=": lambda: left >= right,
        }[op]()
    )


def _sql(op: str, column: Any, value: Any) -> ColumnElement[bool]:
    return cast(
        ColumnElement[bool],
        {
            "=": lambda: column == value,
            "!=": lambda: column != value,
            "<": lambda: column < value,
            "<=": lambda: column <= value,
            ">": lambda: column > value,
            ">=": lambda: column >= value,
        }[op](),
    )


# A comparison, abstractly: (op, value) pairs any of which may hold ("in" is several "=").
Test = list[tuple[str, Value]]


def _tests(rule: Compare | In | Between) -> tuple[Test, bool]:
    """The comparisons a node makes, and whether the node is their negation (`not in`)."""
    if isinstance(rule, Compare):
        return [(rule.op, rule.value)], False
    if isinstance(rule, In):
        return [("=", v) for v in rule.values], rule.negated
    return [(">=", rule.low)], False  # with <= high: handled by _int_test


def _int_intervals(rule: Compare | In | Between) -> tuple[list[Interval], bool]:
    if isinstance(rule, Between):
        return ([(rule.low, rule.high)] if rule.low <= rule.high else []), False
    tests, negated = _tests(rule)
    found: list[Interval] = []
    for op, value in tests:
        assert isinstance(value, int)
        found.extend(intervals(op, value))
    return found, negated


def matches_value(rule: Compare | In | Between, value: Any) -> bool:
    """Whether a present value satisfies the node's comparison (shared with the evaluator's
    meaning, and used here for a member with nothing in a window)."""
    if isinstance(rule, Between):
        return bool(rule.low <= value <= rule.high)
    if isinstance(rule, Compare):
        return holds(rule.op, value, rule.value)
    found = value in rule.values
    return not found if rule.negated else found


@dataclass
class _Joins:
    """The per-member sources a rule uses, each left-joined once."""

    now: datetime
    session: Session
    sources: dict[str, FromClause] = field(default_factory=dict)

    def source(self, name: str, build: Callable[[], Any], key: str | None = None) -> FromClause:
        """The source built once per key (default: its name), left-joined as seg_<name>."""
        key = key or name
        if key not in self.sources:
            self.sources[key] = build().subquery(f"seg_{name}")
        return self.sources[key]

    def frm(self) -> FromClause:
        joined: FromClause = Member.__table__
        member_id = Member.__table__.c.id
        for sub in self.sources.values():
            joined = joined.outerjoin(sub, sub.c.member_id == member_id)
        return joined


class _Compiler:
    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.joins = _Joins(now, session)

    # --- the tree ---

    def rule(self, rule: Rule) -> ColumnElement[bool]:
        if isinstance(rule, And):
            return and_(self.rule(rule.left), self.rule(rule.right))
        if isinstance(rule, Or):
            return or_(self.rule(rule.left), self.rule(rule.right))
        if isinstance(rule, Not):
            inner = rule.operand
            if isinstance(inner, Not):  # two-valued: not not x is x
                return self.rule(inner.operand)
            return not_(self.rule(inner))
        if isinstance(rule, Call):
            return self.condition(rule)
        operand = rule.operand
        if isinstance(operand, Field):
            return self.field(operand.name, rule)
        if operand.name == "attr":
            return self.attr(operand, rule)
        return self.aggregate(operand, rule)

    # --- fields ---

    def field(self, name: str, rule: Compare | In | Between) -> ColumnElement[bool]:
        if name == "recency_days":
            last = self.profile().c.last_purchase_at
            return self.days_since(last, rule)
        if name == "registered_days":
            return self.days_since(Member.registered_at, rule)
        if name == "birthday_month":
            return self.birthday_month(rule)
        if name in ("frequency", "monetary", "aov", "clv_365", "rfm_class", "lifecycle"):
            profile = self.profile()
            column, default = {
                "frequency": (profile.c.orders_window, 0),
                "monetary": (profile.c.monetary_window, 0),
                "aov": (profile.c.aov, 0),
                "clv_365": (profile.c.clv_365, None),
                "rfm_class": (profile.c.rfm_class, None),
                "lifecycle": (profile.c.lifecycle, "prospect"),
            }[name]
            return self.compare(column, rule, default, missing=profile.c.member_id.is_(None))
        if name == "points":
            sub = self.joins.source("points", points.available_balances)
            return self.compare(sub.c.available, rule, 0, missing=sub.c.member_id.is_(None))
        if name == "stored_value":
            sub = self.joins.source("stored_value", stored_value.balances)
            return self.compare(sub.c.balance, rule, 0, missing=sub.c.member_id.is_(None))
        if name == "channel":
            return self.compare(Member.channel, rule, None)
        if name == "tier":
            return self.tier(rule)
        if name == "store":
            return self.by_ids(Member.store_id, rule, stores.ids_by_code)
        assert name == "guide"
        return self.by_ids(Member.guide_id, rule, staff.ids_by_username)

    def profile(self) -> FromClause:
        return self.joins.source("profile", profiles.facts)

    def compare(
        self,
        column: Any,
        rule: Compare | In | Between,
        default: Value | None,
        missing: ColumnElement[bool] | None = None,
    ) -> ColumnElement[bool]:
        """The node on a column; where the row is `missing` the value is `default` (None: no
        value, every comparison false)."""
        present = self.on_column(column, rule)
        if missing is None or default is None:
            return present
        if matches_value(rule, default):
            return or_(missing, present)
        return and_(not_(missing), present)

    def on_column(self, column: Any, rule: Compare | In | Between) -> ColumnElement[bool]:
        """The node on a column that may be NULL (then false)."""
        if isinstance(rule, Between):
            test: ColumnElement[bool] = and_(column >= rule.low, column <= rule.high)
        elif isinstance(rule, Compare):
            test = _sql(rule.op, column, rule.value)
        else:
            test = column.in_(rule.values)
            if rule.negated:
                test = not_(test)
        return and_(column.is_not(None), test)

    def days_since(self, column: Any, rule: Compare | In | Between) -> ColumnElement[bool]:
        """Whole days from `column` to now: `x >= lo` is column <= now - lo days, `x <= hi` is
        column > now - (hi + 1) days."""
        spans, negated = _int_intervals(rule)
        parts = []
        for low, high in spans:
            conditions: list[ColumnElement[bool]] = [column.is_not(None)]
            if low is not None:
                bound = self.shifted(low)
                if bound is False:
                    conditions.append(false())
                elif bound is not True:
                    conditions.append(column <= bound)
            if high is not None:
                bound = self.shifted(high + 1)
                if bound is True:
                    conditions.append(false())
                elif bound is not False:
                    conditions.append(column > bound)
            parts.append(and_(*conditions))
        found = or_(false(), *parts)
        return and_(column.is_not(None), not_(found)) if negated else found

    def shifted(self, days: int) -> datetime | bool:
        """now - days; True/False when beyond the calendar (before year 1: every timestamp is
        after it, True; after year 9999: False)."""
        try:
            return self.now - days * DAY
        except OverflowError:
            return days > 0

    def birthday_month(self, rule: Compare | In | Between) -> ColumnElement[bool]:
        column = Member.birthday_md
        spans, negated = _int_intervals(rule)
        parts = []
        for low, high in spans:
            low = max(low if low is not None else 1, 1)
            high = min(high if high is not None else 12, 12)
            if low > high:
                continue
            parts.append(and_(column >= f"{low:02d}", column < f"{high + 1:02d}"))
        found = and_(column.is_not(None), or_(false(), *parts))
        return and_(column.is_not(None), not_(found)) if negated else found

    def tier(self, rule: Compare | In | Between) -> ColumnElement[bool]:
        rungs = ladder.ladder(self.session)
        home = ladder.base(rungs)
        if home is None:
            return false()  # tiers are off: nobody has a tier
        ids = {rung.code: rung.id for rung in rungs}
        sub = self.joins.source("tier", lambda: standing.effective_tiers(self.now))
        if isinstance(rule, Compare) and rule.op not in ("=", "!="):
            # by rank: `tier >= "gold"` is gold and every tier above it; an unknown tier, none
            rank = next((rung.rank for rung in rungs if rung.code == rule.value), None)
            if rank is None:
                return false()
            codes = tuple(rung.code for rung in rungs if holds(rule.op, rung.rank, rank))
            rule = In(rule.operand, codes or ("",))
        return self.coded(sub.c.tier_id, rule, ids, home.id)

    def by_ids(
        self,
        column: Any,
        rule: Compare | In | Between,
        lookup: Callable[[Session, list[str]], dict[str, int]],
    ) -> ColumnElement[bool]:
        tests, _ = _tests(rule)
        codes = [str(value) for _, value in tests]
        ids = lookup(self.session, codes)
        return self.coded(column, rule, ids, None)

    def coded(
        self,
        column: Any,
        rule: Compare | In | Between,
        ids: dict[str, int],
        default: int | None,
    ) -> ColumnElement[bool]:
        """A text field held as an id: equality on the codes' ids (an unknown code equals
        nothing, so `!=` it holds for any present value)."""
        assert isinstance(rule, Compare | In)
        if isinstance(rule, Compare):
            wanted, negated = [rule.value], rule.op == "!="
        else:
            wanted, negated = list(rule.values), rule.negated
        known = sorted({ids[str(v)] for v in wanted if str(v) in ids})
        value = column if default is None else func.coalesce(column, default)
        present = value.is_not(None)
        found = value.in_(known) if known else false()
        return and_(present, not_(found) if negated else found)

    # --- functions ---

    def condition(self, call: Call) -> ColumnElement[bool]:
        if call.name == "tag":
            return _holds(tags.tagged(str(call.arg("name"))))
        if call.name == "consent":
            return _holds(consents.granted(str(call.arg("channel"))))
        if call.name == "bought":
            sku = str(call.arg("sku"))
            products = catalog.products_by_sku(self.session, [sku])
            product_ids = [products[sku].id] if sku in products else []
            return _holds(behaviour.buyers(product_ids, self.window(call)))
        assert call.name == "coupon"
        status = CouponStatus(str(call.arg("status") or CouponStatus.available.value))
        return _holds(coupons.holders(str(call.arg("template")), status, self.now))

    def window(self, call: Call) -> behaviour.Window:
        days = call.arg("days")
        since = self.now - int(days) * DAY if days is not None else None
        store_ids: Collection[int] | None = None
        store = call.arg("store")
        if store is not None:
            store_ids = list(stores.ids_by_code(self.session, [str(store)]).values())
        category = call.arg("category")
        category_ids = None
        if category is not None:
            category_ids = sorted(catalog.category_ids_matching(self.session, str(category)))
        channel = call.arg("channel")
        return behaviour.Window(
            until=self.now,
            since=since,
            store_ids=store_ids,
            category_ids=category_ids,
            channel=str(channel) if channel is not None else None,
        )

    def aggregate(self, call: Call, rule: Compare | In | Between) -> ColumnElement[bool]:
        """spent/orders: each member's value in the window (the orders grouped by member in one
        pass, or the members' sums), the members for whom the comparison holds matched by a
        semi-join; when it holds for a member with nothing in the window (0), those for whom it
        fails are left out by an anti-join instead."""
        measure = behaviour.spent if call.name == "spent" else behaviour.order_count
        measured = measure(self.session, self.window(call)).subquery("seg_measured")
        test = self.on_column(measured.c.value, rule)
        if matches_value(rule, 0):
            return not_(_holds(select(measured.c.member_id).where(not_(test))))
        return _holds(select(measured.c.member_id).where(test))

    def attr(self, call: Call, rule: Compare | In | Between) -> ColumnElement[bool]:
        """attr("code"): compared as the stored JSON text (a missing value: false); ordered
        by code point on both databases whatever the database's collation."""
        values = attributes.readable_values(str(call.arg("code"))).subquery("seg_attr")
        encoded: Compare | In | Between
        if isinstance(rule, Compare):
            encoded = Compare(rule.operand, rule.op, _json(rule.value))
        elif isinstance(rule, In):
            encoded = In(rule.operand, tuple(_json(v) for v in rule.values), rule.negated)
        else:  # the parser refuses between on attr; kept total
            return false()
        column: Any = values.c.value
        if self.session.get_bind().dialect.name == "postgresql":
            column = column.collate("C")  # text orders by code point, as on SQLite
        test = self.on_column(column, encoded)
        return _holds(select(values.c.member_id).where(test))


def _holds(members: Select[Any]) -> ColumnElement[bool]:
    """EXISTS a row of the member among `members` (a query whose first column is member_id):
    a semi-join, and under `not` an anti-join, on PostgreSQL; never NULL."""
    member_id = members.selected_columns[0]
    return members.where(member_id == Member.id).exists()


def _json(value: Value) -> str:
    return json.dumps(value, ensure_ascii=False)


def member_ids(
    session: Session, rule: Rule, now: datetime, store_ids: Collection[int] | None = None
) -> Select[int]:
    """One SELECT of members.id: the active members the rule matches at `now`, of the given
    stores' members (home store) when `store_ids` is not None."""
    compiler = _Compiler(session, now)
    condition = compiler.rule(rule)
    conditions: list[ColumnElement[bool]] = [Member.status == MemberStatus.active.value, condition]
    if store_ids is not None:
        ids = sorted(store_ids)
        conditions.append(Member.store_id.in_(ids) if ids else false())
    return select(Member.id).select_from(compiler.joins.frm()).where(*conditions)
