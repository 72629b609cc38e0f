from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.coupons.models import Coupon
from patron.points.models import PointsEntry
from patron.tiers import birthdays, ladder
from patron.tiers.jobs import run
from tests.factories import make_coupon_template, make_member
from tests.tiers.helpers import make_ladder

NOW = datetime(2027, 2, 28, 1, 0, tzinfo=UTC)  # 28 February 2027, Shanghai


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(NOW)


@pytest.fixture
def gifts(session: Session) -> int:
    tiers = make_ladder(session)
    template = make_coupon_template(session)
    ladder.save_tier(
        session,
        SYSTEM,
        {"birthday_gift": {"coupons": [{"template_id": template.id, "count": 2}], "points": 88}},
        tiers[0].id,
    )
    return template.id


def coupons(session: Session, member_id: int) -> int:
    found = session.scalar(
        select(func.count()).select_from(Coupon).where(Coupon.member_id == member_id)
    )
    return int(found or 0)


def points(session: Session, member_id: int) -> int:
    found = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
            PointsEntry.member_id == member_id
        )
    )
    return int(found or 0)


def test_once_per_year_and_29_february_on_28th(session: Session, gifts: int) -> None:
    today = make_member(session, birthday="1990-02-28")
    leap = make_member(session, birthday="1992-02-29")
    other = make_member(session, birthday="1990-03-01")
    assert birthdays.give(session, date(2027, 2, 28)) == 2
    assert [coupons(session, m.id) for m in (today, leap, other)] == [2, 2, 0]
    assert points(session, today.id) == 88
    assert birthdays.give(session, date(2027, 2, 28)) == 0  # once a year
    assert run(session, NOW).birthday_gifts == 0
    assert coupons(session, today.id) == 2
    assert birthdays.birthdays_on(date(2028, 2, 28)) == ["02-28"]  # leap year: on the 29th
    assert birthdays.birthdays_on(date(2027, 2, 28)) == ["02-28", "02-29"]
    clock.set_now(datetime(2028, 2, 28, 1, 0, tzinfo=UTC))
    assert birthdays.give(session, date(2028, 2, 28)) == 1  # next year, again
    assert coupons(session, today.id) == 4


def test_only_tiers_with_a_gift(session: Session) -> None:
    make_ladder(session)
    make_member(session, birthday="1990-02-28")
    assert birthdays.give(session, date(2027, 2, 28)) == 0
