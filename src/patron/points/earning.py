"""How many points an order earns: the base (1 point per ¥1 paid, not counting what points and
coupons paid, rounded down per order) plus what the active rules add. Pure arithmetic over the
order's facts, so the preview, live earning and the demo history all run the same code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from patron.points.models import PointsRule, RuleEffect

FEN_PER_POINT = 100  # 1 point per ¥1
NOT_EARNING = ("points", "coupon")


@dataclass(frozen=True)
class LineFacts:
    product_id: int | None
    sku: str
    category_id: int | None
    quantity: int
    paid: int


@dataclass(frozen=True)
class OrderFacts:
    order_id: int | None
    member_id: int
    store_id: int
    channel: str
    occurred_at: datetime
    total: int
    payments: dict[str, int]
    lines: tuple[LineFacts, ...]


@dataclass(frozen=True)
class MemberFacts:
    birthday_md: str | None  # "MM-DD"
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fired:
    rule_id: int
    name: str
    points: int


@dataclass(frozen=True)
class Earning:
    base: int
    fired: tuple[Fired, ...]

    @property
    def total(self) -> int:
        return self.base + sum(f.points for f in self.fired)


def eligible_fen(order: OrderFacts) -> int:
    return max(0, order.total - sum(order.payments.get(m, 0) for m in NOT_EARNING))


def _order_matches(rule: PointsRule, order: OrderFacts, day: date, member: MemberFacts) -> bool:
    c = rule.conditions
    if c.get("store_ids") and order.store_id not in c["store_ids"]:
        return False
    if c.get("channels") and order.channel not in c["channels"]:
        return False
    if c.get("date_from") and day < date.fromisoformat(c["date_from"]):
        return False
    if c.get("date_to") and day > date.fromisoformat(c["date_to"]):
        return False
    if c.get("weekdays") and day.isoweekday() not in c["weekdays"]:
        return False
    if c.get("birthday"):
        if not member.birthday_md:
            return False
        month, day_of_month = (int(x) for x in member.birthday_md.split("-"))
        if month != day.month or (c["birthday"] == "day" and day_of_month != day.day):
            return False
    return all(
        member.attributes.get(k) == v
        or (isinstance(member.attributes.get(k), list) and v in member.attributes[k])
        for k, v in (c.get("attributes") or {}).items()
    )


def _matching_lines(rule: PointsRule, order: OrderFacts) -> list[LineFacts]:
    c = rule.conditions
    categories, products = set(c.get("category_ids") or ()), set(c.get("product_ids") or ())
    skus = set(c.get("skus") or ())
    return [
        line
        for line in order.lines
        if (not categories or line.category_id in categories)
        and (not products or line.product_id in products)
        and (not skus or line.sku in skus)
    ]


def rule_points(rule: PointsRule, order: OrderFacts, lines: list[LineFacts]) -> int:
    if not lines:
        return 0
    if rule.effect == RuleEffect.add_per_order:
        return rule.amount
    if rule.effect == RuleEffect.add_per_item:
        return rule.amount * sum(line.quantity for line in lines)
    # multiply: the extra on the matching share of the eligible spend; factor in hundredths
    matching = sum(line.paid for line in lines)
    eligible_matching = eligible_fen(order) * matching // order.total if order.total else 0
    return eligible_matching * (rule.amount - 100) // (100 * FEN_PER_POINT)


def compute(
    order: OrderFacts,
    local_day: date,
    member: MemberFacts,
    rules: list[PointsRule],
    awarded_today: dict[int, int],
) -> Earning:
    """The base and the points each firing rule adds, after caps. Rules are taken by priority;
    a rule that does not stack applies alone, and only when no other rule has applied yet."""
    base = eligible_fen(order) // FEN_PER_POINT
    fired: list[Fired] = []
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if not rule.active or (fired and not rule.stackable):
            continue
        if not _order_matches(rule, order, local_day, member):
            continue
        points = rule_points(rule, order, _matching_lines(rule, order))
        if rule.cap_per_order is not None:
            points = min(points, rule.cap_per_order)
        if rule.cap_per_member_day is not None:
            points = min(points, max(0, rule.cap_per_member_day - awarded_today.get(rule.id, 0)))
        if points <= 0:
            continue
        fired.append(Fired(rule.id, rule.name, points))
        if not rule.stackable:
            break
    return Earning(base, tuple(fired))
