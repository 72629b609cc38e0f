"""A coupon is taken by a conditional update in its order's transaction: of 20 orders carrying
the same coupon at once on PostgreSQL, each in its own connection, exactly one is written."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core.actor import SYSTEM
from patron.coupons.errors import CouponUnavailable
from patron.coupons.models import Coupon, CouponEvent
from patron.orders import service as orders
from patron.orders.models import Order
from patron.orders.schemas import OrderCreate
from tests.concurrency.test_races import race
from tests.factories import issue_coupon, make_coupon_template, make_member, make_store, order_body

ORDERS = 20


def test_twenty_orders_carrying_one_coupon_redeem_it_once(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store = make_store(session)
        member = make_member(session, store)
        template = make_coupon_template(
            session,
            valid_days=None,
            valid_from="2026-01-01T00:00:00+08:00",
            valid_until="2030-12-31T23:59:59+08:00",
        )
        coupon = issue_coupon(session, template, member)
    items = [
        {
            "sku": "SKU-1",
            "name": "洗发水",
            "quantity": 1,
            "unit_price": 15000,
            "discount": 2000,
            "paid": 13000,
        }
    ]

    def attempt(n: int) -> object:
        body = order_body(
            store,
            f"RACE-{n}",
            member_id=member.id,
            items=items,
            payments=[{"method": "cash", "amount": 13000}],
            coupons=[{"code": coupon.code, "amount": 2000}],
        )
        with factory.begin() as session:
            return orders.create_order(session, SYSTEM, OrderCreate.model_validate(body)).id

    results = race(ORDERS, attempt)
    taken = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, CouponUnavailable)]
    assert (len(taken), len(refused)) == (1, ORDERS - 1), results
    assert {r.extra["reason"] for r in refused} == {"redeemed"}
    with Session(pg_engine) as session:
        row = session.get(Coupon, coupon.id)
        assert row is not None
        assert (row.status, row.order_id, row.discount) == ("redeemed", taken[0], 2000)
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        events = select(func.count()).where(CouponEvent.coupon_id == coupon.id)
        assert session.scalar(events) == 1
