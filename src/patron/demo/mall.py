"""The demo points mall (积分商城): a coupon, two products (one picked up or delivered, one
delivered only, for gold members and above where tiers exist) and a count card, redeemed over
the last two weeks by some of the members with points to spare; the pick-ups partly handed over,
the deliveries partly shipped, a few cancelled. Runs through the mall's own service, so every
redemption burns its points in the ledger like a live one. A few hundred redemptions: fast."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.count_cards import products as card_products
from patron.coupons import templates as coupon_templates
from patron.coupons.models import CouponTemplate
from patron.mall import items, redemption
from patron.mall.models import MallItem
from patron.points import queries as points_queries
from patron.stores import service as stores
from patron.stores.models import StoreStatus
from patron.tiers import ladder

REDEEMERS = 300  # at most: members with points to spare who visit the mall
DAYS = 14
COUPON = {
    "name": "积分兑换 满50减10",
    "type": "cash_off",
    "status": "active",
    "threshold": 5000,
    "amount": 1000,
    "valid_days": 30,
}
CARD = {"name": "现磨咖啡5杯卡", "service": "食品区 现磨咖啡", "uses": 5, "price": 7500}
ADDRESSES = ("上海市静安区南京西路1266号", "北京市朝阳区建国路88号", "杭州市西湖区文三路90号")


def load(session: Session, seed: int = 2026) -> dict[str, int]:
    if session.scalar(select(MallItem.id).limit(1)) is not None:
        return {"items": 0, "redemptions": 0}
    made = _items(session)
    rng = random.Random(seed)
    open_stores = [
        s.id
        for s in stores.list_stores(
            session, SYSTEM, stores.StoreFilter(status=StoreStatus.open), None, 200
        ).items
    ]
    spenders = [m for m, _ in points_queries.spendable_balances(session, minimum=800)]
    rng.shuffle(spenders)
    counts = {"redemptions": 0, "cancelled": 0, "handed_over": 0, "shipped": 0}
    now = clock.now()
    for member_id in spenders[:REDEEMERS]:
        item = rng.choice(made)
        at = now - timedelta(days=rng.uniform(0, DAYS))
        way = _way(item, rng, open_stores)
        try:
            with clock.frozen(at), session.begin_nested():
                done = redemption.redeem(
                    session, SYSTEM, member_id, item.id, 1, way, channel="member_page"
                )
        except PatronError:
            continue  # out of stock, a limit, a tier: as a member would be told
        counts["redemptions"] += 1
        later = min(now, at + timedelta(hours=rng.uniform(2, 72)))
        roll = rng.random()
        with clock.frozen(later):
            if roll < 0.05:
                redemption.cancel(session, SYSTEM, done.id, "会员申请取消")
                counts["cancelled"] += 1
            elif done.fulfilment == "pickup" and roll < 0.7:
                redemption.hand_over(session, SYSTEM, done.id)
                counts["handed_over"] += 1
            elif done.fulfilment == "delivery" and roll < 0.8:
                redemption.ship(session, SYSTEM, done.id, f"SF{rng.randrange(10**11, 10**12)}")
                counts["shipped"] += 1
    return {"items": len(made), **counts}


def _items(session: Session) -> list[MallItem]:
    template = session.scalar(
        select(CouponTemplate).where(CouponTemplate.name == COUPON["name"])
    ) or coupon_templates.create_template(session, SYSTEM, dict(COUPON))
    card = next(
        (p for p in card_products.list_products(session) if p.name == CARD["name"]), None
    ) or card_products.save_product(session, SYSTEM, dict(CARD))
    rungs = ladder.ladder(session)
    gold = next((r for r in rungs if r.rank == 1), None)
    values: list[dict[str, Any]] = [
        {
            "kind": "coupon",
            "name": "满50减10优惠券",
            "name_en": "¥10 off ¥50 coupon",
            "description": "兑换后30天内有效",
            "points_price": 800,
            "coupon_template_id": template.id,
            "per_member_limit": 3,
        },
        {
            "kind": "product",
            "name": "禾木保温杯",
            "name_en": "Hemu thermos",
            "description": "316不锈钢，500ml",
            "points_price": 2500,
            "fulfilment": ["pickup", "delivery"],
            "stock": 120,
            "per_member_limit": 1,
        },
        {
            "kind": "product",
            "name": "羊毛毯",
            "name_en": "Wool blanket",
            "points_price": 6000,
            "cash_price": 4900,
            "fulfilment": ["delivery"],
            "stock": 30,
            "min_tier_id": gold.id if gold else None,
        },
        {
            "kind": "count_card",
            "name": "现磨咖啡5杯卡",
            "name_en": "5 fresh coffees",
            "points_price": 1500,
            "count_card_product_id": card.id,
            "per_member_limit": 2,
        },
    ]
    return [items.save_item(session, SYSTEM, v) for v in values]


def _way(item: MallItem, rng: random.Random, open_stores: list[int]) -> redemption.Delivery:
    ways = items.ways(item)
    if not ways:
        return redemption.Delivery()
    way = rng.choice(ways)
    if way == "pickup":
        return redemption.Delivery("pickup", rng.choice(open_stores) if open_stores else None)
    return redemption.Delivery(
        "delivery",
        None,
        "会员" + str(rng.randrange(100, 999)),
        "13800000000",
        rng.choice(ADDRESSES),
    )
