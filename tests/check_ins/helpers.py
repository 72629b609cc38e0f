"""Shared pieces of the check-in tests."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.check_ins import program
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.security import issue_member_token
from patron.points.models import EntryKind, PointsEntry


def at_business(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    """A moment of `day` in business time (Asia/Shanghai)."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=clock.business_tz())


def set_program(session: Session, **values: Any) -> program.Program:
    settings = vars(program.Program()) | values
    return program.save_program(session, SYSTEM, settings)


def check_in_entries(session: Session, member_id: int) -> list[PointsEntry]:
    return list(
        session.scalars(
            select(PointsEntry)
            .where(
                PointsEntry.member_id == member_id,
                PointsEntry.kind == EntryKind.grant.value,
                PointsEntry.reason.like("check_in [check_in:%]"),
            )
            .order_by(PointsEntry.id)
        )
    )


def member_headers(secret: str, member_id: int, key: str | None = None) -> dict[str, str]:
    token = issue_member_token(secret, member_id, timedelta(days=30)).token
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers
