"""The demo's campaigns: one done five weeks ago whose report shows an uplift, and a draft.

沉睡唤醒 froze its audience (dormant members) with a 10% control group and issued a 满100减30
coupon to the rest, all at its launch time. Over the next two weeks some members of both groups
bought anyway (the same chance for both), and a share of the treated members came back with
the coupon (orders through the orders service, so points, coupons and profiles see them as any
sale): the report's uplift is the coupon's, measured against the control group."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.campaigns import launch, service
from patron.campaigns.models import Campaign, CampaignMember
from patron.campaigns.schemas import CampaignIn
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.coupons import templates
from patron.coupons.models import Coupon, CouponStatus, IssueSource
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.segments import service as segments
from patron.stores import service as stores
from patron.stores.service import StoreFilter

WAKE_UP = "沉睡唤醒 · 满100减30"
DRAFT = "会员日积分加赠"
LAUNCHED_DAYS_AGO = 35
COME_BACK = 0.2  # of the treated members, who bought with their coupon within two weeks
BASELINE = 0.05  # of any member of the audience, who bought anyway
COUPON_AMOUNT = 3000
COUPON = {
    "name": "唤醒券 满100减30",
    "type": "cash_off",
    "status": "active",
    "threshold": 10000,
    "amount": COUPON_AMOUNT,
    "valid_days": 14,
}
PRODUCT = ("BEAUTY-02", "玻尿酸精华液", "BEAUTY", 19900)


def load(session: Session, seed: int = 2026) -> dict[str, str]:
    """Create the demo campaigns that are missing: name -> status."""
    have = {c.name: c for c in service.all_campaigns(session)}
    if WAKE_UP not in have:
        have[WAKE_UP] = _wake_up(session, random.Random(seed))
    if DRAFT not in have:
        have[DRAFT] = _draft(session)
    return {name: have[name].status for name in (WAKE_UP, DRAFT)}


def _wake_up(session: Session, rng: random.Random) -> Campaign:
    launched = clock.now() - timedelta(days=LAUNCHED_DAYS_AGO)
    with clock.frozen(launched):
        template = templates.create_template(session, SYSTEM, dict(COUPON))
        campaign = service.create(
            session,
            SYSTEM,
            CampaignIn.model_validate(
                {
                    "name": WAKE_UP,
                    "description": "沉睡会员发 14 天有效的满100减30券，10% 对照组",
                    "rule": 'lifecycle = "dormant"',
                    "actions": [{"type": "issue_coupon", "template_id": template.id}],
                    "control_percent": 10,
                    "attribution_days": 14,
                }
            ),
        )
        service.launch(session, SYSTEM, campaign.id)
        launch.freeze(session, campaign.id)
        while launch.treat_batch(session, campaign.id):
            pass
    _come_back(session, rng, campaign, launched)
    return campaign


def _come_back(session: Session, rng: random.Random, campaign: Campaign, since: datetime) -> None:
    """The window's orders: any member of the audience may buy as dormant members sometimes do
    (BASELINE, both groups alike), and a treated member may come back with their coupon."""
    audience = session.execute(
        select(CampaignMember.member_id, CampaignMember.in_control)
        .where(CampaignMember.campaign_id == campaign.id)
        .order_by(CampaignMember.member_id)
    ).all()
    codes = dict(
        session.execute(
            select(Coupon.member_id, Coupon.code).where(
                Coupon.source == IssueSource.campaign.value,
                Coupon.source_ref == launch.reference(campaign.id),
                Coupon.status == CouponStatus.available.value,
            )
        ).all()
    )
    store_ids = [
        s.id
        for s in stores.list_stores(session, SYSTEM, StoreFilter(), None, 200).items
        if s.status == "open" and s.type == "owned"
    ]
    for member_id, in_control in audience:
        code = None if in_control else codes.get(member_id)
        if code is not None and rng.random() < COME_BACK:
            _buy(session, rng, member_id, since, rng.choice(store_ids), code)
        elif rng.random() < BASELINE:
            _buy(session, rng, member_id, since, rng.choice(store_ids), None)


def _buy(
    session: Session,
    rng: random.Random,
    member_id: int,
    since: datetime,
    store_id: int,
    code: str | None,
) -> None:
    sku, name, category, price = PRODUCT
    at = since + timedelta(hours=rng.uniform(6, 13 * 24))
    quantity = rng.choice((1, 1, 2))
    discount = COUPON_AMOUNT if code else 0
    paid = price * quantity - discount
    with clock.frozen(at + timedelta(minutes=1)):
        orders.create_order(
            session,
            SYSTEM,
            OrderCreate.model_validate(
                {
                    "external_id": f"WAKE-{member_id}-{at:%Y%m%d%H%M%S}",
                    "store_id": store_id,
                    "channel": "pos",
                    "member_id": member_id,
                    "occurred_at": at,
                    "items": [
                        {
                            "sku": sku,
                            "name": name,
                            "category_code": category,
                            "quantity": quantity,
                            "unit_price": price,
                            "discount": discount,
                            "paid": paid,
                        }
                    ],
                    "payments": [{"method": "wechat_pay", "amount": paid}],
                    "coupons": [{"code": code, "amount": discount}] if code else [],
                }
            ),
        )


def _draft(session: Session) -> Campaign:
    """A draft on a demo segment, ready for someone to review and launch."""
    audience = {s.name: s.id for s in segments.all_segments(session)}.get("短信可召回")
    target = {"segment_id": audience} if audience else {"rule": 'lifecycle = "at_risk"'}
    return service.create(
        session,
        SYSTEM,
        CampaignIn.model_validate(
            {
                "name": DRAFT,
                "description": "会员日前给有流失风险的会员加赠积分",
                **target,
                "actions": [{"type": "grant_points", "points": 200, "reason": "会员日加赠"}],
                "control_percent": 10,
            }
        ),
    )
