"""Check-ins raced on PostgreSQL: of a member's concurrent check-ins (each with its own
Idempotency-Key, as two taps on two phones) exactly one succeeds, the others hear
already_checked_in, and the day's points are granted once. Also at the service: the unique
(member, business day) row decides, not the read before it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from patron.check_ins import service
from patron.check_ins.errors import AlreadyCheckedIn
from patron.check_ins.models import CheckIn
from patron.core.actor import member_actor
from patron.points import queries as points
from patron.points.models import PointsEntry
from tests.check_ins.helpers import member_headers
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member

RACERS = 8


def test_concurrent_check_ins_of_one_member_grant_the_day_once(api: Api) -> None:
    with api.factory.begin() as session:
        member_id = make_member(session).id
    secret = api.settings.secret_key

    def tap(n: int) -> Any:
        return api.client.post(
            "/api/v1/me/check-ins", headers=member_headers(secret, member_id, f"tap-{n}")
        )

    results = race(RACERS, tap)
    assert not [r for r in results if isinstance(r, Exception)], results
    answered = Counter(
        (r.status_code, r.json()["code"] if r.status_code >= 400 else None) for r in results
    )
    assert answered == Counter({(201, None): 1, (409, "already_checked_in"): RACERS - 1})
    with api.factory() as session:
        rows = session.scalar(select(func.count()).where(CheckIn.member_id == member_id))
        granted = session.scalars(
            select(PointsEntry.points).where(
                PointsEntry.member_id == member_id, PointsEntry.reason.like("check_in [%")
            )
        ).all()
        assert rows == 1
        assert granted == [5]
        assert points.balance(session, member_id).available == 5
        assert points.verify(session) == []


def test_the_unique_row_decides_between_two_service_calls(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the read before the insert taken away, the unique row alone decides."""
    monkeypatch.setattr(service, "on_day", lambda *_: None)
    with api.factory.begin() as session:
        member_id = make_member(session).id
    actor = member_actor(member_id)

    def check_in(_n: int) -> Any:
        with api.factory.begin() as session:
            return service.check_in(session, actor, member_id).id

    results = race(2, check_in)
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, AlreadyCheckedIn) for r in results) == 1
    with api.factory() as session:
        granted = session.scalars(
            select(PointsEntry.points).where(
                PointsEntry.member_id == member_id, PointsEntry.reason.like("check_in [%")
            )
        ).all()
        assert granted == [5]
