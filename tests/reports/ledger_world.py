"""Generated data for the ledger reports' tests: stores, guides, members registered before and
in a week, their orders (some refunded), points burned and stored value loaded and spent, all
through the services; then the facts refreshed. The tests compute their expectations from the
orders and ledgers in plain Python."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.models import Order, Refund
from patron.orders.schemas import RefundCreate
from patron.points import burning
from patron.reports import facts
from patron.reports.query import Period, ReportQuery
from patron.staff.models import StaffUser
from patron.stored_value import ledger
from patron.stores.models import Store
from tests.factories import make_member, make_order, make_staff, make_store
from tests.stored_value.test_ledger import load

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 8))
NOW = datetime(2026, 3, 14, 4, 0, tzinfo=UTC)  # noon in Shanghai, after the last refund
CHANNELS = ("pos", "online_mall")


def at(day: date, hour: int) -> datetime:
    """`hour` o'clock in Shanghai on `day` (hour 23: late, the business day still `day`)."""
    return datetime(day.year, day.month, day.day, hour, 30, tzinfo=clock.business_tz())


def business_day(moment: datetime) -> date:
    return moment.astimezone(clock.business_tz()).date()


def query(store_ids: frozenset[int] | None = None, channel: str | None = None) -> ReportQuery:
    return ReportQuery(PERIOD, store_ids, channel)


@dataclass
class World:
    a: Store
    b: Store
    c: Store  # no activity
    guides: list[StaffUser]
    members: list[Member]

    def orders(self, session: Session) -> list[Order]:
        return list(session.scalars(select(Order)))

    def refunds(self, session: Session) -> list[Refund]:
        return list(session.scalars(select(Refund)))


def _lines(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "sku": f"SKU-{n}",
            "name": "商品",
            "category_code": "CARE",
            "quantity": 1,
            "unit_price": price,
            "discount": 0,
            "paid": price,
        }
        for n, price in enumerate((rng.randint(10, 300) * 100, rng.randint(5, 80) * 100))
    ]


def build(session: Session, seed: int = 20) -> World:
    rng = random.Random(seed)
    a, b, c = make_store(session), make_store(session), make_store(session)
    guides = [
        make_staff(session, Role.guide, [a]),
        make_staff(session, Role.guide, [a]),
        make_staff(session, Role.guide, [b]),
    ]
    guides_of = {a.id: guides[:2], b.id: guides[2:]}
    members = []
    days = [PERIOD.first - timedelta(days=5), *(PERIOD.first + timedelta(n) for n in range(7))]
    for n in range(24):
        store = rng.choice([a, b, None])
        guide = rng.choice([*guides_of[store.id], None]) if store else None
        with clock.frozen(at(rng.choice(days), rng.choice((10, 23)))):
            members.append(
                make_member(session, store, guide_id=guide.id if guide else None, name=f"会员{n}")
            )
    # The day before the period, in it, and the day after.
    order_days = [PERIOD.first - timedelta(days=1), *days[1:], PERIOD.last + timedelta(days=1)]
    for _ in range(70):
        day = rng.choice(order_days)
        moment = at(day, rng.choice((9, 15, 23)))
        buyer = rng.choice([*members, None, None])
        if buyer is not None and buyer.registered_at > moment:
            continue
        store = rng.choice([a, a, b])
        with clock.frozen(moment):
            order = make_order(
                session,
                store,
                buyer,
                channel=rng.choice(CHANNELS),
                occurred_at=moment.isoformat(),
                **_paid(_lines(rng)),
            )
        _maybe_refund(session, rng, order, moment)
    _ledgers(session, rng, a, b, members)
    with clock.frozen(NOW):
        facts.refresh(session)
    return World(a, b, c, guides, members)


def _paid(items: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(i["paid"] for i in items)
    return {"items": items, "payments": [{"method": "wechat_pay", "amount": total}]}


def _maybe_refund(session: Session, rng: random.Random, order: Any, moment: datetime) -> None:
    chance = rng.random()
    if chance > 0.3:
        return
    body: dict[str, Any] = {"all": True}
    if chance > 0.15:
        second = next(line for line in order.lines if line["sku"] == "SKU-1")
        body = {"items": [{"line_id": second["id"], "quantity": 1}]}
    with clock.frozen(moment + timedelta(days=rng.choice((0, 1, 3)))):
        orders.refund_order(session, SYSTEM, order.id, RefundCreate.model_validate(body))


def _ledgers(
    session: Session, rng: random.Random, a: Store, b: Store, members: list[Member]
) -> None:
    """Points burned and stored value loaded and spent, on days of the period."""
    for member in members[:12]:
        day = PERIOD.first + timedelta(days=rng.randint(0, 6))
        store = rng.choice([a, b, None])
        with clock.frozen(max(at(day, 16), member.registered_at + timedelta(minutes=1))):
            store_id = store.id if store else None
            held = burning.hold(session, member.id)
            if held >= 20:
                burning.burn(
                    session, SYSTEM, member.id, held // 2, "兑换", store_id=store_id, minimum=False
                )
            load(session, member, store, rng.randint(1, 9) * 10000, rng.choice((0, 2000)))
            ledger.spend(session, member.id, rng.randint(1, 50) * 100, store_id, None)
