from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.check_ins.models import CheckIn
from patron.core import clock
from patron.demo import check_ins as demo
from patron.points import queries as points
from tests.check_ins.helpers import check_in_entries
from tests.factories import make_member


def test_demo_check_ins_go_through_the_service(session: Session) -> None:
    ids = [make_member(session).id for _ in range(6)]
    report = demo.load(session, members=5, days=12)
    assert report.members == 5
    assert report.check_ins > 10
    rows = list(session.scalars(select(CheckIn).order_by(CheckIn.member_id, CheckIn.business_day)))
    assert len(rows) == report.check_ins
    assert max(r.business_day for r in rows) < clock.today()  # today is left open
    assert sum(r.points + r.bonus for r in rows) == report.points
    for member_id in ids:
        mine = [r for r in rows if r.member_id == member_id]
        assert sum(e.points for e in check_in_entries(session, member_id)) == sum(
            r.points + r.bonus for r in mine
        )
        assert points.balance(session, member_id).available >= sum(r.points for r in mine)
    assert session.scalar(select(func.max(CheckIn.streak))) >= 2
