"""Earning takes the account's row lock in its upsert: concurrent orders and burns for one member
on PostgreSQL, each in its own connection, keep the cached balance equal to the ledger."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.points import burning
from patron.points.models import PointsAccount, PointsEntry
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store, order_body


def test_concurrent_orders_and_burns_keep_the_balance(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        store = make_store(session)
        member_id = make_member(session, store).id
        first = order_body(store, member_id=member_id)
        orders.create_order(session, SYSTEM, OrderCreate.model_validate(first))  # 120 points

    def attempt(n: int) -> object:
        with factory.begin() as session:
            if n % 2:
                return burning.burn(session, SYSTEM, member_id, 100, f"burn {n}").id
            body = order_body(store, member_id=member_id)
            return orders.create_order(session, SYSTEM, OrderCreate.model_validate(body)).id

    results = race(12, attempt)
    assert all(not isinstance(r, Exception) or isinstance(r, PatronError) for r in results)
    with Session(pg_engine) as session:
        account = session.get(PointsAccount, member_id)
        ledger = session.scalar(
            select(func.sum(PointsEntry.points)).where(PointsEntry.member_id == member_id)
        )
        assert account is not None
        assert account.available + account.pending - account.debt == ledger
        assert sum(1 for r in results[0::2] if isinstance(r, int)) == 6
