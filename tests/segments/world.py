"""Members with every kind of fact a segment rule reads, drawn from a seed: profiles, tiers (held
and paid), balances, tags, consents, attributes, orders with refunds, coupons in each status."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from patron.catalog.models import Category
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.coupons.models import CouponStatus, CouponTemplate
from patron.members.models import (
    AttributeDefinition,
    Member,
    MemberAttributeValue,
    MemberConsent,
    MemberStatus,
)
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.points.models import PointsAccount
from patron.profiles.models import MemberProfile
from patron.segments.rules import Lifecycle, RfmClass
from patron.stored_value.models import StoredValueAccount
from patron.stores.models import Store
from patron.tags.models import MemberTag, Tag
from patron.tiers.models import MemberTier, Tier
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_order,
    make_staff,
    make_store,
)
from tests.tiers.helpers import make_ladder

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
TAGS = ("投诉", "vip", 'x" or 1=1')
SKUS = {"A1": "MILK", "B1": "BABY", "C1": "CARE"}
TEMPLATES = ("W100", "满100减20")
STORE_CODES = ("S1", "S2")
GUIDES = ("alice", "bob")


@dataclass
class Built:
    members: list[Member]
    stores: dict[str, int]


def build(session: Session, seed: int, count: int = 24) -> Built:
    rng = random.Random(seed)
    with clock.frozen(NOW - timedelta(days=400)):
        stores = {code: make_store(session, code) for code in STORE_CODES}
        guides = {
            name: make_staff(session, Role.guide, [stores["S1"]], username=name) for name in GUIDES
        }
        tiers = {t.code: t for t in make_ladder(session)}
        baby = Category(code="BABY", name="母婴")
        session.add(baby)
        session.flush()
        session.add(Category(code="MILK", name="奶粉", parent_id=baby.id))
        session.add(Category(code="CARE", name="护理"))
        tags = {name: Tag(name=name) for name in TAGS}
        session.add_all(tags.values())
        kids = AttributeDefinition(code="kids", label="孩子数", type="number")
        birthday = AttributeDefinition(code="baby_birthday", label="宝宝生日", type="date")
        secret = AttributeDefinition(code="passport", label="护照", type="text", is_pii=True)
        session.add_all([kids, birthday, secret])
        session.flush()
        templates = {name: make_coupon_template(session, name=name) for name in TEMPLATES}
    members = []
    for _ in range(count):
        with clock.frozen(NOW - timedelta(days=rng.randint(0, 400))):
            store = stores[rng.choice(STORE_CODES)] if rng.random() < 0.8 else None
            member = make_member(session, store)
        members.append(member)
        member.channel = rng.choice(["store", "online", "mini_program", "import"])
        if rng.random() < 0.7:
            member.birthday_md = f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if rng.random() < 0.6:
            member.guide_id = guides[rng.choice(GUIDES)].id
        _profile(session, rng, member)
        _tier(session, rng, member, tiers)
        if rng.random() < 0.5:
            session.add(PointsAccount(member_id=member.id, available=rng.randint(0, 5000)))
        if rng.random() < 0.5:
            session.add(
                StoredValueAccount(
                    member_id=member.id, principal=rng.randint(0, 50000), bonus=rng.randint(0, 99)
                )
            )
        for name in TAGS:
            if rng.random() < 0.3:
                session.add(MemberTag(member_id=member.id, tag_id=tags[name].id, source="manual"))
        for channel in ("sms", "email", "wechat"):
            if rng.random() < 0.5:
                session.add(
                    MemberConsent(
                        member_id=member.id,
                        channel=channel,
                        granted=rng.random() < 0.7,
                        source="test",
                        recorded_at=NOW,
                    )
                )
        if rng.random() < 0.5:
            session.add(_attr(member, kids, rng.randint(0, 3)))
        if rng.random() < 0.5:
            day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            session.add(_attr(member, birthday, day))
        if rng.random() < 0.3:
            session.add(MemberAttributeValue(member_id=member.id, attribute_id=secret.id))
        session.flush()
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            _order(session, rng, member, stores)
        for _ in range(rng.choice([0, 1, 2])):
            _coupon(session, rng, member, templates)
        if rng.random() < 0.1:
            member.status = rng.choice([MemberStatus.merged.value, MemberStatus.erased.value])
    session.flush()
    return Built(members, {code: s.id for code, s in stores.items()})


def _attr(member: Member, definition: AttributeDefinition, value: object) -> MemberAttributeValue:
    return MemberAttributeValue(
        member_id=member.id,
        attribute_id=definition.id,
        value=json.dumps(value, ensure_ascii=False),
    )


def _profile(session: Session, rng: random.Random, member: Member) -> None:
    if rng.random() < 0.25:
        return
    last = NOW - timedelta(hours=rng.randint(0, 24 * 400)) if rng.random() < 0.8 else None
    session.add(
        MemberProfile(
            member_id=member.id,
            last_purchase_at=last,
            first_purchase_at=last,
            orders_window=rng.randint(0, 6),
            monetary_window=rng.choice([0, 100, 5000, 50000, 120000]),
            aov=rng.choice([0, 100, 5000, 20000]),
            rfm_class=rng.choice([None, *(c.value for c in RfmClass)]),
            lifecycle=rng.choice([c.value for c in Lifecycle]),
            clv_365=rng.choice([None, 0, 3000, 90000]),
            facts_at=NOW,
        )
    )


def _tier(session: Session, rng: random.Random, member: Member, tiers: dict[str, Tier]) -> None:
    if rng.random() < 0.4:
        return
    held = tiers[rng.choice(list(tiers))]
    paid = tiers[rng.choice(list(tiers))] if rng.random() < 0.4 else None
    paid_until = NOW + timedelta(days=rng.choice([-3, 3])) if paid is not None else None
    session.add(
        MemberTier(
            member_id=member.id,
            tier_id=held.id,
            since=NOW - timedelta(days=30),
            paid_tier_id=paid.id if paid is not None else None,
            paid_until=paid_until,
        )
    )


def _order(session: Session, rng: random.Random, member: Member, stores: dict[str, Store]) -> None:
    occurred = NOW - timedelta(hours=rng.randint(1, 24 * 200))
    items = []
    for line_no, sku in enumerate(rng.sample(sorted(SKUS), rng.randint(1, 3))):
        quantity = rng.randint(1, 3)
        items.append(
            {
                "sku": sku,
                "name": sku,
                "category_code": SKUS[sku],
                "quantity": quantity,
                "unit_price": 1000 * (line_no + 1),
                "discount": 0,
                "paid": 1000 * (line_no + 1) * quantity,
            }
        )
    total = sum(int(str(i["paid"])) for i in items)
    with clock.frozen(NOW):
        order = make_order(
            session,
            stores[rng.choice(STORE_CODES)],
            member,
            occurred_at=occurred.isoformat(),
            channel=rng.choice(["pos", "online_mall"]),
            items=items,
            payments=[{"method": "wechat_pay", "amount": total}],
        )
        roll = rng.random()
        if roll < 0.15:
            orders.refund_order(session, SYSTEM, order.id, RefundCreate(all=True))
        elif roll < 0.3:
            line = orders.lines_of(session, order.id)[0]
            body = {"items": [{"line_id": line.id, "quantity": 1}]}
            orders.refund_order(session, SYSTEM, order.id, RefundCreate.model_validate(body))


def _coupon(
    session: Session, rng: random.Random, member: Member, templates: dict[str, CouponTemplate]
) -> None:
    with clock.frozen(NOW - timedelta(days=rng.randint(0, 60))):
        coupon = issue_coupon(session, templates[rng.choice(TEMPLATES)], member)
    roll = rng.random()
    if roll < 0.2:
        coupon.status = CouponStatus.void.value
    elif roll < 0.35:
        coupon.status = CouponStatus.redeemed.value
    elif roll < 0.45:
        coupon.status = CouponStatus.expired.value
