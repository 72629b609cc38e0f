"""The daily facts equal the orders and ledgers they are built from, after a refresh."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.reports import facts
from patron.reports.models import MemberDayFacts, SalesDayFacts
from tests.factories import make_member, make_order, make_store

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _sales(session: Session) -> dict[tuple[date, int, str], tuple[int, ...]]:
    rows = session.execute(
        select(
            SalesDayFacts.day,
            SalesDayFacts.store_id,
            SalesDayFacts.channel,
            SalesDayFacts.orders,
            SalesDayFacts.sales,
            SalesDayFacts.refunded,
            SalesDayFacts.member_orders,
            SalesDayFacts.member_sales,
            SalesDayFacts.member_refunded,
        )
    )
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}


def test_orders_and_refunds_land_on_their_business_days(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    with clock.frozen(datetime(2026, 1, 5, 3, tzinfo=UTC)):
        # 23:30 in Shanghai on 4 January is 15:30 UTC: the business day is the 4th.
        make_order(session, store, occurred_at="2026-01-04T23:30:00+08:00")
        order = make_order(session, store, member, occurred_at="2026-01-05T10:00:00+08:00")
    with clock.frozen(datetime(2026, 1, 7, 3, tzinfo=UTC)):
        orders.refund_order(session, SYSTEM, order.id, RefundCreate(all=True))
    with clock.frozen(NOW):
        facts.refresh(session)
    assert _sales(session) == {
        (date(2026, 1, 4), store.id, "pos"): (1, 12000, 0, 0, 0, 0),
        (date(2026, 1, 5), store.id, "pos"): (1, 12000, 0, 1, 12000, 0),
        (date(2026, 1, 7), store.id, "pos"): (0, 0, 12000, 0, 0, 12000),
    }
    # Fully refunded: the member's order no longer counts.
    assert session.scalars(select(MemberDayFacts)).all() == []


def test_a_refresh_recomputes_only_what_changed_and_agrees_with_a_rebuild(
    session: Session,
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    with clock.frozen(datetime(2026, 1, 5, 3, tzinfo=UTC)):
        make_order(session, store, member, occurred_at="2026-01-05T10:00:00+08:00")
    with clock.frozen(NOW):
        facts.refresh(session)
        make_order(session, store, member, occurred_at="2026-01-05T11:00:00+08:00")
        facts.refresh(session)
        refreshed = _sales(session)
        facts.rebuild(session)
    assert refreshed == _sales(session)
    assert refreshed[(date(2026, 1, 5), store.id, "pos")] == (2, 24000, 0, 2, 24000, 0)
    (day,) = session.scalars(select(MemberDayFacts)).all()
    assert (day.member_id, day.orders, day.net_sales) == (member.id, 2, 24000)
