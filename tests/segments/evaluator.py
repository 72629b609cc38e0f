"""A test oracle: the segment rule language evaluated in Python over each member's facts, loaded
with plain ORM reads (no compiler code), to check the compiled SQL against."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.catalog.models import Category
from patron.core import clock
from patron.coupons.holding import status_at
from patron.coupons.models import Coupon, CouponTemplate
from patron.members.models import (
    AttributeDefinition,
    Member,
    MemberAttributeValue,
    MemberConsent,
    MemberStatus,
)
from patron.orders.models import Order, OrderLine
from patron.points.models import PointsAccount
from patron.profiles.models import MemberProfile
from patron.segments.rules import And, Between, Call, Compare, Field, In, Not, Or, Rule
from patron.staff.models import StaffUser
from patron.stored_value.models import StoredValueAccount
from patron.stores.models import Store
from patron.tags.models import MemberTag, Tag
from patron.tiers import standing
from patron.tiers.models import Tier

MISSING = object()


@dataclass
class Line:
    sku: str
    category_id: int | None
    paid: int
    refunded_amount: int
    quantity: int
    refunded_quantity: int


@dataclass
class OrderFacts:
    occurred_at: datetime
    store: str
    channel: str
    total: int
    refunded_amount: int
    status: str
    lines: list[Line] = field(default_factory=list)


@dataclass
class Facts:
    member_id: int
    values: dict[str, Any]  # the fields; MISSING when the member has none
    attrs: dict[str, str]  # code -> JSON text
    tags: set[str]
    consents: set[str]
    orders: list[OrderFacts]
    coupons: list[tuple[str, str]]  # (template name, status at now)


@dataclass
class World:
    now: datetime
    members: list[Facts]
    categories: dict[int, tuple[str, str, int | None]]  # id -> (code, name, parent_id)
    tier_ranks: dict[str, int] = field(default_factory=dict)

    def matching(self, rule: Rule, store_ids_codes: set[str] | None = None) -> list[int]:
        return [
            m.member_id
            for m in self.members
            if (store_ids_codes is None or m.values["store"] in store_ids_codes)
            and evaluate(rule, m, self)
        ]


def _days(now: datetime, then: datetime) -> int:
    return (now - then) // timedelta(days=1)


def load(session: Session, now: datetime) -> World:
    session.flush()
    stores = {s.id: s.code for s in session.scalars(select(Store))}
    staff = {s.id: s.username for s in session.scalars(select(StaffUser))}
    members = list(
        session.scalars(
            select(Member).where(Member.status == MemberStatus.active.value).order_by(Member.id)
        )
    )
    with clock.frozen(now):
        tiers = standing.tiers_of(session, [m.id for m in members])
    templates = {t.id: t.name for t in session.scalars(select(CouponTemplate))}
    definitions = {d.id: d for d in session.scalars(select(AttributeDefinition))}
    tag_names = {t.id: t.name for t in session.scalars(select(Tag))}
    found = []
    for m in members:
        profile = session.get(MemberProfile, m.id)
        points = session.get(PointsAccount, m.id)
        sv = session.get(StoredValueAccount, m.id)
        tier = tiers.get(m.id)
        last = profile.last_purchase_at if profile else None
        values: dict[str, Any] = {
            "recency_days": _days(now, last) if last is not None else MISSING,
            "frequency": profile.orders_window if profile else 0,
            "monetary": profile.monetary_window if profile else 0,
            "aov": profile.aov if profile else 0,
            "rfm_class": (profile.rfm_class if profile else None) or MISSING,
            "lifecycle": profile.lifecycle if profile else "prospect",
            "clv_365": MISSING if profile is None or profile.clv_365 is None else profile.clv_365,
            "tier": tier.code if tier else MISSING,
            "points": points.available if points else 0,
            "stored_value": sv.principal + sv.bonus if sv else 0,
            "registered_days": _days(now, m.registered_at),
            "birthday_month": int(m.birthday_md[:2]) if m.birthday_md else MISSING,
            "store": stores[m.store_id] if m.store_id else MISSING,
            "guide": staff[m.guide_id] if m.guide_id else MISSING,
            "channel": m.channel,
        }
        attrs = {}
        for row in session.scalars(
            select(MemberAttributeValue).where(MemberAttributeValue.member_id == m.id)
        ):
            definition = definitions[row.attribute_id]
            if not definition.is_pii and row.value is not None:
                attrs[definition.code] = row.value
        tags = {
            tag_names[t.tag_id]
            for t in session.scalars(select(MemberTag).where(MemberTag.member_id == m.id))
        }
        consents = {
            c.channel
            for c in session.scalars(select(MemberConsent).where(MemberConsent.member_id == m.id))
            if c.granted
        }
        orders = []
        for o in session.scalars(select(Order).where(Order.member_id == m.id)):
            lines = [
                Line(
                    line.sku,
                    line.category_id,
                    line.paid,
                    line.refunded_amount,
                    line.quantity,
                    line.refunded_quantity,
                )
                for line in session.scalars(select(OrderLine).where(OrderLine.order_id == o.id))
            ]
            orders.append(
                OrderFacts(
                    o.occurred_at,
                    stores[o.store_id],
                    o.channel,
                    o.total,
                    o.refunded_amount,
                    o.status,
                    lines,
                )
            )
        coupons = [
            (templates[c.template_id], status_at(c, now).value)
            for c in session.scalars(select(Coupon).where(Coupon.member_id == m.id))
        ]
        found.append(Facts(m.id, values, attrs, tags, consents, orders, coupons))
    categories = {c.id: (c.code, c.name, c.parent_id) for c in session.scalars(select(Category))}
    ranks = {t.code: t.rank for t in session.scalars(select(Tier))}
    return World(now, found, categories, ranks)


def _ops(op: str, left: Any, right: Any) -> bool:
    return bool(
        {
            "=": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    )


def _in_category(world: World, category_id: int | None, wanted: str) -> bool:
    seen = set()
    while category_id is not None and category_id not in seen:
        seen.add(category_id)
        code, name, parent = world.categories[category_id]
        if wanted in (code, name):
            return True
        category_id = parent
    return False


def _window(call: Call, world: World, o: OrderFacts) -> bool:
    days = call.arg("days")
    if o.occurred_at >= world.now:
        return False
    if days is not None and o.occurred_at < world.now - timedelta(days=int(days)):
        return False
    if call.arg("store") is not None and o.store != call.arg("store"):
        return False
    return call.arg("channel") is None or o.channel == call.arg("channel")


def value_of(call: Call, m: Facts, world: World) -> Any:
    category = call.arg("category")
    orders = [o for o in m.orders if _window(call, world, o)]
    if call.name == "spent":
        if category is None:
            return sum(o.total - o.refunded_amount for o in orders)
        return sum(
            line.paid - line.refunded_amount
            for o in orders
            for line in o.lines
            if _in_category(world, line.category_id, str(category))
        )
    assert call.name == "orders"
    live = [o for o in orders if o.status != "refunded"]
    if category is None:
        return len(live)
    return sum(
        1
        for o in live
        if any(
            _in_category(world, line.category_id, str(category))
            and line.refunded_quantity < line.quantity
            for line in o.lines
        )
    )


def evaluate(rule: Rule, m: Facts, world: World) -> bool:
    if isinstance(rule, And):
        return evaluate(rule.left, m, world) and evaluate(rule.right, m, world)
    if isinstance(rule, Or):
        return evaluate(rule.left, m, world) or evaluate(rule.right, m, world)
    if isinstance(rule, Not):
        return not evaluate(rule.operand, m, world)
    if isinstance(rule, Call):
        if rule.name == "tag":
            return rule.arg("name") in m.tags
        if rule.name == "consent":
            return rule.arg("channel") in m.consents
        if rule.name == "bought":
            return any(
                line.sku == rule.arg("sku") and line.refunded_quantity < line.quantity
                for o in m.orders
                if _window(rule, world, o)
                for line in o.lines
            )
        assert rule.name == "coupon"
        status = rule.arg("status") or "available"
        return (str(rule.arg("template")), status) in m.coupons
    operand = rule.operand
    if isinstance(operand, Field):
        value = m.values[operand.name]
    elif operand.name == "attr":
        value = m.attrs.get(str(operand.arg("code")), MISSING)
        if value is not MISSING:
            rule = _encoded(rule)  # compared as the JSON text the literal encodes to
    else:
        value = value_of(operand, m, world)
    if value is MISSING:
        return False
    ranked = isinstance(operand, Field) and operand.name == "tier"
    if ranked and isinstance(rule, Compare) and rule.op not in ("=", "!="):
        ranks = world.tier_ranks
        return rule.value in ranks and _ops(rule.op, ranks[value], ranks[str(rule.value)])
    if isinstance(rule, Compare):
        return _ops(rule.op, value, rule.value)
    if isinstance(rule, Between):
        return bool(rule.low <= value <= rule.high)
    return (value in rule.values) != rule.negated


def _encoded(rule: Compare | In | Between) -> Compare | In | Between:
    def enc(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    if isinstance(rule, Compare):
        return Compare(rule.operand, rule.op, enc(rule.value))
    assert isinstance(rule, In)
    return In(rule.operand, tuple(enc(v) for v in rule.values), rule.negated)
