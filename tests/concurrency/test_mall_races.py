"""Concurrent mall redemptions on PostgreSQL: the last units go to as many members as there are
units, a member's many redemptions at once stop at the per-member limit and at their points, and
every burned point is accounted for."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.mall import items
from patron.mall.models import MallItem, MallRedemption
from patron.points import grants
from patron.points.models import PointsEntry
from patron.points.queries import balance, verify
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store

CUP = {"kind": "product", "name": "保温杯", "points_price": 100, "fulfilment": ["pickup"]}


def _give(session: Session, member_id: int, points: int) -> None:
    grants.grant_points(
        session,
        SYSTEM,
        member_id,
        points,
        reason="race",
        store_id=None,
        source_ref=f"race:{member_id}",
    )


def test_twenty_members_race_for_the_last_five_units(api: Api) -> None:
    with api.factory.begin() as session:
        store_id = make_store(session).id
        members = [make_member(session).id for _ in range(20)]
        for member_id in members:
            _give(session, member_id, 1000)
        item_id = items.save_item(session, SYSTEM, {**CUP, "stock": 5}).id

    def attempt(n: int) -> tuple[int, str]:
        body = {"item_id": item_id, "fulfilment": "pickup", "store_id": store_id}
        response = api.post(f"/members/{members[n]}/mall/redemptions", body)
        return int(response.status_code), response.json().get("code", "")

    results = race(20, attempt)
    assert sorted(results) == [(201, "")] * 5 + [(409, "out_of_stock")] * 15, results
    with api.factory() as session:
        item = session.get(MallItem, item_id)
        assert item is not None
        assert (item.stock, item.redeemed_count) == (0, 5)
        made = session.scalar(select(func.count()).where(MallRedemption.item_id == item_id))
        assert made == 5
        spent = sum(1000 - balance(session, m).available for m in members)
        assert spent == 500
        assert verify(session) == []


def test_one_member_racing_themself_stops_at_the_limit_and_their_points(api: Api) -> None:
    with api.factory.begin() as session:
        store_id = make_store(session).id
        member_id = make_member(session).id
        _give(session, member_id, 1000)
        limited = items.save_item(session, SYSTEM, {**CUP, "per_member_limit": 3}).id
        dear = items.save_item(session, SYSTEM, {**CUP, "name": "大杯", "points_price": 300}).id

    def attempt(n: int) -> tuple[int, str]:
        body = {"item_id": limited, "fulfilment": "pickup", "store_id": store_id}
        response = api.post(f"/members/{member_id}/mall/redemptions", body)
        return int(response.status_code), response.json().get("code", "")

    results = race(12, attempt)
    assert sorted(results) == [(201, "")] * 3 + [(409, "limit_reached")] * 9, results

    def spend(n: int) -> tuple[int, str]:
        body = {"item_id": dear, "fulfilment": "pickup", "store_id": store_id}
        response = api.post(f"/members/{member_id}/mall/redemptions", body)
        return int(response.status_code), response.json().get("code", "")

    # 700 points left: two of the 300-point cups, never a third.
    results = race(10, spend)
    assert sorted(results) == [(201, "")] * 2 + [(409, "insufficient_points")] * 8, results
    with api.factory() as session:
        assert balance(session, member_id).available == 100
        burns = session.scalars(
            select(PointsEntry.points).where(
                PointsEntry.member_id == member_id, PointsEntry.kind == "burn"
            )
        ).all()
        assert sorted(burns) == [-300, -300, -100, -100, -100]
        assert verify(session) == []


def test_concurrent_cancels_give_the_points_and_the_stock_back_once(api: Api) -> None:
    with api.factory.begin() as session:
        store_id = make_store(session).id
        member_id = make_member(session).id
        _give(session, member_id, 1000)
        item_id = items.save_item(session, SYSTEM, {**CUP, "stock": 3}).id
    body = {"item_id": item_id, "fulfilment": "pickup", "store_id": store_id}
    made = api.post(f"/members/{member_id}/mall/redemptions", body)
    assert made.status_code == 201, made.text
    redemption_id = made.json()["id"]

    def attempt(n: int) -> tuple[int, str]:
        response = api.post(f"/mall/redemptions/{redemption_id}/cancel", {"reason": f"try {n}"})
        return int(response.status_code), response.json().get("code", "")

    results = race(8, attempt)
    assert sorted(results) == [(201, "")] + [(409, "redemption_status")] * 7, results
    with api.factory() as session:
        assert balance(session, member_id).available == 1000
        item = session.get(MallItem, item_id)
        assert item is not None
        assert item.stock == 3
        restores = session.scalar(
            select(func.count()).where(
                PointsEntry.member_id == member_id, PointsEntry.kind == "refund_restore"
            )
        )
        assert restores == 1
        assert verify(session) == []
