"""The demo mall: its items, redemptions by members with points through the mall's service
(points in the ledger, stock counted), partly fulfilled and a few cancelled; loaded once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.demo import mall as demo_mall
from patron.mall.models import MallItem, MallRedemption
from patron.points.models import PointsEntry
from patron.points.queries import verify
from tests.factories import make_member, make_store
from tests.mall.helpers import give


def test_the_demo_mall_redeems_through_the_service(session: Session) -> None:
    store = make_store(session)
    for n in range(40):
        give(session, make_member(session, store).id, 3000 + 100 * n, f"demo:{n}")
    counts = demo_mall.load(session, seed=7)
    assert counts["items"] == 4
    assert counts["redemptions"] > 20
    made = session.scalar(select(func.count()).select_from(MallRedemption))
    assert made == counts["redemptions"]
    burns = session.scalar(
        select(func.count()).where(PointsEntry.kind == "burn", PointsEntry.reason.like("mall:%"))
    )
    assert burns == made
    for item in session.scalars(select(MallItem)):
        if item.stock is not None:
            assert item.stock >= 0
    assert verify(session) == []
    assert demo_mall.load(session, seed=7) == {"items": 0, "redemptions": 0}
