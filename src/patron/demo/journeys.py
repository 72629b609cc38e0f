"""The demo's journeys, the classic four: a welcome series (新客礼), a birthday gift, a dormant
wake-up with a stronger coupon for higher-value members (沉睡唤醒) and a points-expiry reminder.
Each runs (active) with a 10% control group; the members whose date has come enter at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.coupons import templates as coupon_templates
from patron.coupons.models import CouponTemplate
from patron.journeys import service, triggers
from patron.journeys.models import Journey
from patron.journeys.schemas import JourneyIn
from patron.messages import templates as message_templates
from patron.messages.models import MessageTemplate
from patron.messages.schemas import TemplateIn

COUPONS = {
    "welcome": ("新客礼 满50减10", 5000, 1000, 14),
    "birthday": ("生日礼 满100减30", 10000, 3000, 30),
    "wake": ("回来看看 满100减20", 10000, 2000, 14),
    "wake_strong": ("老朋友回归 满100减50", 10000, 5000, 14),
}
MESSAGES = {
    "journey_welcome": "欢迎加入会员！新客礼券已放入您的账户，14 天内有效。",
    "journey_welcome_nudge": "您的新客礼券还没用哦，到店或线上下单即可抵扣。",
    "journey_birthday": "生日快乐！送您一张生日礼券，本月内到店使用。",
    "journey_wakeup": "好久不见，送您一张回归券，期待您再来。",
    "journey_points": "您有积分将在 7 天后到期，快去积分商城兑换好礼吧。",
}

# Higher-value members: a predicted year of ¥500 or more, or an important RFM class gone quiet.
VALUABLE = 'clv_365 >= 50000\nor rfm_class in ("important_winback", "important_retain")'


def _coupon(session: Session, key: str) -> int:
    name, threshold, amount, days = COUPONS[key]
    found = session.scalar(select(CouponTemplate.id).where(CouponTemplate.name == name))
    if found is not None:
        return found
    values = {
        "name": name,
        "type": "cash_off",
        "status": "active",
        "threshold": threshold,
        "amount": amount,
        "valid_days": days,
    }
    return coupon_templates.create_template(session, SYSTEM, values).id


def _messages(session: Session) -> None:
    have = set(
        session.scalars(select(MessageTemplate.code).where(MessageTemplate.channel == "sms"))
    )
    for code, text in MESSAGES.items():
        if code not in have:
            data = {"code": code, "channel": "sms", "purpose": "marketing", "body": text}
            message_templates.create_template(session, SYSTEM, TemplateIn.model_validate(data))


def _sms(key: str, template: str, **fields: Any) -> dict[str, Any]:
    return (
        {"key": key, "type": "action", "action": "send_message", "channel": "sms"}
        | {"template": template}
        | fields
    )


def definitions(session: Session) -> list[dict[str, Any]]:
    coupon = {key: _coupon(session, key) for key in COUPONS}
    return [
        {
            "name": "新客礼",
            "description": "注册即送新客券；3 天未下单再提醒一次",
            "trigger": {"event": "member.registered"},
            "goal": {"type": "purchase", "days": 14},
            "steps": [
                {
                    "key": "gift",
                    "type": "action",
                    "action": "issue_coupon",
                    "template_id": coupon["welcome"],
                },
                _sms("hello", "journey_welcome"),
                {"key": "wait3", "type": "wait", "days": 3},
                {"key": "still_new", "type": "condition", "rule": "frequency = 0"},
                {"key": "nudge_at_ten", "type": "wait", "until_hour": 10},
                _sms("nudge", "journey_welcome_nudge"),
            ],
        },
        {
            "name": "生日礼",
            "description": "生日前 3 天送生日券并短信祝福",
            "trigger": {"event": "birthday", "days_before": 3},
            "goal": {"type": "purchase", "days": 30},
            "steps": [
                {
                    "key": "gift",
                    "type": "action",
                    "action": "issue_coupon",
                    "template_id": coupon["birthday"],
                },
                {"key": "at_ten", "type": "wait", "until_hour": 10},
                _sms("wish", "journey_birthday"),
            ],
        },
        {
            "name": "沉睡唤醒",
            "description": "90 天未消费：高价值会员送大额券，其余送普通券；7 天后未回来再短信",
            "trigger": {"event": "dormant", "days": 90},
            "entry_limit": "every_n_days",
            "entry_days": 180,
            "goal": {"type": "purchase", "days": 30},
            "steps": [
                {
                    "key": "valuable",
                    "type": "branch",
                    "rule": VALUABLE,
                    "yes": "strong",
                    "no": "plain",
                },
                {
                    "key": "strong",
                    "type": "action",
                    "action": "issue_coupon",
                    "template_id": coupon["wake_strong"],
                    "next": "wait7",
                },
                {
                    "key": "plain",
                    "type": "action",
                    "action": "issue_coupon",
                    "template_id": coupon["wake"],
                },
                {"key": "wait7", "type": "wait", "days": 7},
                _sms("remind", "journey_wakeup"),
            ],
        },
        {
            "name": "积分到期提醒",
            "description": "积分 7 天后到期：上午 10 点短信提醒",
            "trigger": {"event": "points_expiring", "days": 7},
            "entry_limit": "every_n_days",
            "entry_days": 30,
            "steps": [
                {"key": "at_ten", "type": "wait", "until_hour": 10},
                _sms("remind", "journey_points"),
            ],
        },
    ]


def load(session: Session) -> dict[str, int]:
    """Create and start the demo journeys that are missing; enter today's members into the
    dated ones. Journey name -> members entered now."""
    _messages(session)
    have = set(session.scalars(select(Journey.name)))
    for values in definitions(session):
        if values["name"] not in have:
            journey = service.create(session, SYSTEM, JourneyIn.model_validate(values))
            service.move(session, SYSTEM, journey.id, "activate")
    entered = triggers.enter_dated(session, clock.now())
    names = session.execute(select(Journey.id, Journey.name).order_by(Journey.id)).all()
    return {name: entered.get(journey_id, 0) for journey_id, name in names}
