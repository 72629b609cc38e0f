"""Shared set-up of the mall tests: items through the service, points given to members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.mall import items
from patron.mall.models import MallItem
from patron.points import grants
from patron.points.models import PointsEntry
from patron.points.queries import balance


def give(session: Session, member_id: int, points: int, ref: str = "test:1") -> None:
    grants.grant_points(
        session, SYSTEM, member_id, points, reason="test", store_id=None, source_ref=ref
    )


def make_item(session: Session, **fields: Any) -> MallItem:
    values: dict[str, Any] = {
        "kind": "product",
        "name": "保温杯",
        "name_en": "Thermos",
        "points_price": 500,
        "fulfilment": ["pickup", "delivery"],
    }
    values.update(fields)
    return items.save_item(session, SYSTEM, values)


def available(session: Session, member_id: int) -> int:
    return balance(session, member_id).available


def ledger_sum(session: Session, member_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
            PointsEntry.member_id == member_id
        )
    )
    return int(total or 0)


def entries(session: Session, member_id: int, kind: str) -> list[PointsEntry]:
    return list(
        session.scalars(
            select(PointsEntry)
            .where(PointsEntry.member_id == member_id, PointsEntry.kind == kind)
            .order_by(PointsEntry.id)
        )
    )
