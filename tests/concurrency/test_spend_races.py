"""The members' spend sums stay exact while folds run beside orders and refunds on PostgreSQL, each
in its own connection: a fold adds and deletes, in one snapshot, exactly the changes it sees, so
a change committed meanwhile is folded by the next fold, never twice and never lost."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.orders import behaviour, spend
from patron.orders import service as orders
from patron.orders.models import MemberSpendChange, Order
from patron.orders.schemas import OrderCreate, RefundCreate
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store, order_body
from tests.orders.test_spend import expected, summed

FOLDERS = 2
WRITERS = 4
ROUNDS = 40
DAYS_BACK = (0, 0, 30, 364, 365, 366, 500)
MINUTES_BACK = (0, 0, 1, 600)  # 0: at the instant, after the last fold


def _agree(session: Session) -> None:
    now = clock.now()
    for measure in ("spent", "orders"):
        for since in (None, now - timedelta(days=365)):
            window = behaviour.Window(until=now, since=since)
            assert summed(session, measure, window) == expected(session, measure, window)


def test_folds_beside_orders_and_refunds_keep_the_sums_exact(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store = make_store(session)
        members = [make_member(session, store).id for _ in range(6)]
        spend.fold(session, clock.now())

    def fold(n: int) -> int:
        folded = 0
        for _ in range(ROUNDS):
            with factory.begin() as session:
                folded += spend.fold(session, clock.now()).members
        return folded

    def write(n: int) -> int:
        rng = random.Random(n)
        for _ in range(ROUNDS):
            with factory.begin() as session:
                back = timedelta(days=rng.choice(DAYS_BACK), minutes=rng.choice(MINUTES_BACK))
                body = order_body(
                    store,
                    member_id=rng.choice(members),
                    occurred_at=(clock.now() - back).isoformat(),
                )
                order = orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
                if rng.random() < 0.3:
                    orders.refund_order(session, SYSTEM, order.id, RefundCreate(all=True))
        return ROUNDS

    def work(n: int) -> Any:
        return fold(n) if n < FOLDERS else write(n)

    results = race(FOLDERS + WRITERS, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    with Session(pg_engine) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == WRITERS * ROUNDS
        _agree(session)
    with factory.begin() as session:
        spend.fold(session, clock.now())
        assert session.scalar(select(func.count()).select_from(MemberSpendChange)) == 0
        _agree(session)
