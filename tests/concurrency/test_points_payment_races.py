"""Orders paying with points at the same time, over HTTP on PostgreSQL: the points account's row
lock lets exactly as many through as the balance holds, each burn tied to its order, and a
refund of a winner gives its points back."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from patron.orders.models import Order
from patron.points import queries
from patron.points.models import EntryKind, PointsAccount, PointsEntry
from patron.stores.models import Store
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store, order_body


def _points_order(store: Store, member_id: int, name: str, points: int) -> dict[str, object]:
    """A ¥100 order, `points` of it paid with points (100 points = ¥1), the rest by wechat."""
    return order_body(
        store,
        name,
        member_id=member_id,
        items=[{"sku": "PT-1", "name": "套餐", "quantity": 1, "unit_price": 10000, "paid": 10000}],
        payments=[
            {"method": "wechat_pay", "amount": 10000 - points},
            {"method": "points", "amount": points},
        ],
    )


def _member_with_points(api: Api, points: int) -> tuple[Store, int]:
    """A member who earned `points` on a cash order."""
    with api.factory.begin() as session:
        store = make_store(session)
        member_id = make_member(session).id
    items = [{"sku": "PT-0", "name": "储物", "quantity": 1, "unit_price": points * 100}]
    body = order_body(
        store,
        f"EARN-{member_id}",
        member_id=member_id,
        items=[items[0] | {"paid": points * 100}],
        payments=[{"method": "cash", "amount": points * 100}],
    )
    assert api.post("/orders", body).status_code == 201
    with api.factory() as session:
        assert queries.balance(session, member_id).available == points
    return store, member_id


def _burned(api: Api, member_id: int) -> dict[int, int]:
    with api.factory() as session:
        rows = session.execute(
            select(PointsEntry.order_id, -func.sum(PointsEntry.points))
            .where(PointsEntry.member_id == member_id, PointsEntry.kind == EntryKind.burn.value)
            .group_by(PointsEntry.order_id)
        )
        return {order_id: points for order_id, points in rows}


def test_two_orders_spending_the_same_points_one_wins(api: Api) -> None:
    store, member_id = _member_with_points(api, 1500)

    def attempt(n: int) -> tuple[int, str]:
        response = api.post("/orders", _points_order(store, member_id, f"PT-{n}", 1000))
        return response.status_code, response.json().get("code", "")

    results = Counter(race(2, attempt))
    assert results == {(201, ""): 1, (409, "insufficient_points"): 1}, results
    with api.factory() as session:
        won = session.scalars(
            select(Order.id).where(Order.member_id == member_id, Order.external_id.like("PT-%"))
        ).all()
        assert len(won) == 1
        account = session.get(PointsAccount, member_id)
        assert account is not None
        assert account.available == 1500 - 1000 + 90  # the winner earned on its ¥90 by wechat
        assert queries.verify(session) == []
    assert _burned(api, member_id) == {won[0]: 1000}
    refund = api.post(f"/orders/{won[0]}/refunds", {"all": True})
    assert refund.status_code == 201, refund.json()
    with api.factory() as session:
        assert queries.balance(session, member_id).available == 1500


def test_ten_orders_of_1000_points_from_5000_take_exactly_five(api: Api) -> None:
    store, member_id = _member_with_points(api, 5000)

    def attempt(n: int) -> tuple[int, str]:
        response = api.post("/orders", _points_order(store, member_id, f"PT-{n}", 1000))
        return response.status_code, response.json().get("code", "")

    results = Counter(race(10, attempt))
    # The 90 points each winner earns add up to 450: not a sixth order's 1,000.
    assert results == {(201, ""): 5, (409, "insufficient_points"): 5}, results
    burned = _burned(api, member_id)
    assert sorted(burned.values()) == [1000] * 5
    with api.factory() as session:
        assert queries.balance(session, member_id).available == 5000 - 5 * 1000 + 5 * 90
        assert queries.verify(session) == []
