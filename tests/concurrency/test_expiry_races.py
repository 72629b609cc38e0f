"""The points job on PostgreSQL while tills burn and late orders arrive, each in its own
connection: every due lot expires once (by the job or by the member's own burn), and the ledger
stays equal to the balances."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.points import burning, jobs
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points.models import LotStatus, PointsEntry, PointsLot
from patron.stores.models import Store
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store, order_body

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=45)  # a month's points earned at T0 have expired


def buy(
    session: Session,
    store: Store,
    member_id: int,
    paid: int,
    at: datetime,
    sent: datetime | None = None,
) -> None:
    line = {"sku": "P-1", "name": "商品", "quantity": 1, "unit_price": paid, "paid": paid}
    body = order_body(
        store,
        items=[line],
        payments=[{"method": "cash", "amount": paid}],
        member_id=member_id,
        occurred_at=at.isoformat(),
    )
    with clock.frozen(sent or at):
        orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))


def expired_points(session: Session, member_id: int) -> int:
    return -(
        session.scalar(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.member_id == member_id, PointsEntry.kind == "expire"
            )
        )
        or 0
    )


def test_the_job_runs_while_tills_burn(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        points_policy.get_policy(session).rolling_months = 1
        store = make_store(session)
        members = [make_member(session, store).id for _ in range(16)]
        for member_id in members:
            buy(session, store, member_id, 20000, T0)  # 200 points, expired at LATER
            buy(session, store, member_id, 30000, T0 + timedelta(days=1))  # 300, expired too
            buy(session, store, member_id, 100000, LATER - timedelta(days=1))  # 1,000, good

    def work(n: int) -> object:
        with factory.begin() as session:
            if n == 0:
                return jobs.run(session, LATER)
            for member_id in members[n - 1 :: 7]:
                burning.burn(session, SYSTEM, member_id, 100, f"till {n}")
            return n

    with clock.frozen(LATER):  # once for all threads: the clock is the process's
        results = race(8, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    with factory() as session, clock.frozen(LATER):
        assert points_queries.verify(session) == []
        assert [expired_points(session, m) for m in members] == [500] * len(members)
        assert [points_queries.balance(session, m).available for m in members] == [900] * 16


def test_a_late_order_that_lands_while_the_job_runs_waits_for_the_next_run(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        points_policy.get_policy(session).rolling_months = 1
        store = make_store(session)
        due, late = make_member(session, store).id, make_member(session, store).id
        buy(session, store, due, 20000, T0)
        buy(session, store, late, 30000, LATER - timedelta(days=1))  # nothing due for `late`
    locked, landed = threading.Event(), threading.Event()
    lock = jobs._lock

    def lock_then_wait(session: Session, members: object) -> None:
        lock(session, members)  # type: ignore[arg-type]
        locked.set()
        assert landed.wait(30)

    monkeypatch.setattr(jobs, "_lock", lock_then_wait)
    outcome: list[object] = []

    def run_job() -> None:
        with factory.begin() as session:
            outcome.append(jobs.run(session, LATER))

    job = threading.Thread(target=run_job)
    job.start()
    assert locked.wait(30)
    with factory.begin() as session:  # bought at T0, sent now: its points are due already
        buy(session, store, late, 10000, T0, sent=LATER)
    landed.set()
    job.join(30)
    assert [(r.expired_lots, r.expired_points) for r in outcome] == [(1, 200)]  # type: ignore[attr-defined]
    with factory() as session, clock.frozen(LATER):
        assert points_queries.verify(session) == []
        waiting = session.scalars(
            select(PointsLot.status).where(PointsLot.member_id == late, PointsLot.points == 100)
        ).all()
        assert waiting == [LotStatus.available.value]
    monkeypatch.undo()
    with factory.begin() as session:
        assert jobs.run(session, LATER).expired_points == 100
    with factory() as session:
        assert points_queries.verify(session) == []
        assert expired_points(session, late) == 100
