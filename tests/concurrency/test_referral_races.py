"""Two runs of the referral job at once on PostgreSQL reward each referral once: the second
waits on the rows the first holds and finds them no longer pending."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from patron.core import clock
from patron.points.models import PointsEntry
from patron.referrals import rewards, service
from patron.referrals.models import Referral
from tests.concurrency.test_races import race
from tests.factories import make_member, make_order, make_store


def test_two_job_runs_at_once_reward_once(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        program = service.get_program(session)
        program.monthly_cap = 100
        store = make_store(session)
        referrer = make_member(session, store)
        code = service.code_of(session, referrer.id)
        ids = []
        for _ in range(8):
            invitee = make_member(session, store)
            referral = service.record_invite(session, invitee.id, code)
            assert referral is not None
            ids.append(referral.id)
            make_order(session, store, invitee, occurred_at=clock.now().isoformat())

    def attempt(_: int) -> int:
        with factory.begin() as session:
            return rewards.run(session, clock.now()).rewarded

    results = race(4, attempt)
    assert sorted(results) == [0, 0, 0, 8], results
    with factory() as session:
        statuses = session.scalars(select(Referral.status).where(Referral.id.in_(ids))).all()
        assert set(statuses) == {"rewarded"}
        grants = session.scalar(
            select(func.count())
            .select_from(PointsEntry)
            .where(PointsEntry.kind == "grant", PointsEntry.member_id == referrer.id)
        )
        assert grants == 8
