from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import clock, db, migrate
from patron.core.events import OutboxEvent
from patron.webhooks import jobs, relay
from patron.webhooks.models import WebhookDelivery
from tests import conftest
from tests.webhooks.helpers import endpoint, outbox

MEMBER = {"member_id": 7, "mobile": "+8613912345678", "name": "张伟", "email": "zw@example.com"}


def _deliveries(session: Session) -> list[tuple[int, int]]:
    rows = session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).order_by(WebhookDelivery.id)
    )
    return [(r.endpoint_id, r.event_id) for r in rows]


def test_a_round_makes_one_delivery_per_subscribed_endpoint_and_dispatches(
    session: Session,
) -> None:
    every = endpoint(session)
    orders = endpoint(session, event_types=["order.completed"])
    refunds = endpoint(session, event_types=["order.refunded"])
    endpoint(session, enabled=False)
    completed, refunded = outbox(session)[0], outbox(session, "order.refunded")[0]
    other = outbox(session, "member.tier_changed")[0]
    done = relay.relay_round(session, clock.now())
    assert done.taken == 3
    assert not done.full
    assert sorted(_deliveries(session)) == sorted(
        [
            (every.id, completed),
            (orders.id, completed),
            (every.id, refunded),
            (refunds.id, refunded),
            (every.id, other),
        ]
    )
    assert len(done.delivery_ids) == 5
    undispatched = select(func.count()).where(OutboxEvent.delivered_at.is_(None))
    assert session.scalar(undispatched) == 0
    assert relay.relay_round(session, clock.now()).taken == 0


def test_events_are_dispatched_even_without_endpoints(session: Session) -> None:
    outbox(session, n=3)
    assert relay.relay_round(session, clock.now()).taken == 3
    assert session.scalar(select(func.count()).where(OutboxEvent.delivered_at.is_(None))) == 0
    assert _deliveries(session) == []


def test_an_event_relayed_again_is_not_delivered_twice(session: Session) -> None:
    hook = endpoint(session)
    event = outbox(session)[0]
    first = relay.relay_round(session, clock.now())
    # As if the relay's commit were lost after its inserts: the row is read again.
    row = session.get(OutboxEvent, event)
    assert row is not None
    row.delivered_at = None
    session.flush()
    again = relay.relay_round(session, clock.now())
    assert again.taken == 1
    assert again.delivery_ids == []
    assert _deliveries(session) == [(hook.id, event)]
    assert len(first.delivery_ids) == 1


def test_the_envelope_masks_personal_data_unless_the_scope_is_full(session: Session) -> None:
    masked = endpoint(session)
    full = endpoint(session, pii="full")
    event = outbox(session, "member.tier_changed", {"member": MEMBER, "lines": [MEMBER]})[0]
    relay.relay_round(session, clock.now())
    bodies = {d.endpoint_id: d.payload for d in session.scalars(select(WebhookDelivery)).all()}
    shown = bodies[masked.id]
    assert shown["id"] == f"evt_{event}"
    assert shown["type"] == "member.tier_changed"
    assert shown["occurred_at"].endswith("Z")
    assert shown["data"]["member"] == {
        "member_id": 7,
        "mobile": "139****5678",
        "name": "张*",
        "email": "z***@example.com",
    }
    assert shown["data"]["lines"][0]["mobile"] == "139****5678"
    assert bodies[full.id]["data"]["member"] == MEMBER
    assert bodies[full.id]["id"] == shown["id"]  # one id for every endpoint


def test_a_full_batch_asks_for_the_next_round_at_once(session: Session) -> None:
    assert not relay.waiting(session)
    outbox(session, n=3)
    assert relay.waiting(session)
    assert relay.relay_round(session, clock.now(), limit=2).taken == 2
    assert relay.relay_round(session, clock.now(), limit=2).taken == 1


def test_the_relay_job_queues_its_deliveries_after_commit(
    session: Session, queued: list[int]
) -> None:
    endpoint(session)
    outbox(session, n=2)
    with session.begin_nested():
        summary = jobs.relay_job(session, clock.now())
        assert queued == []
    session.commit()
    assert summary == "2 events dispatched"
    assert sorted(queued) == sorted(d for d in session.scalars(select(WebhookDelivery.id)))


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    if conftest._postgres_skip_reason:
        pytest.skip(conftest._postgres_skip_reason)
    url = conftest._create_postgres_database()
    engine = db.make_engine(url, pool_size=10)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    conftest._drop_postgres_database(url)


def test_concurrent_relays_take_each_event_once_on_postgresql(pg_engine: Engine) -> None:
    factory = sessionmaker(pg_engine, expire_on_commit=False)
    with factory.begin() as session:
        endpoint(session)
        endpoint(session, event_types=["order.completed"])
        outbox(session, n=1200)
    barrier = threading.Barrier(4)
    taken: list[int] = []
    made: list[int] = []
    lock = threading.Lock()

    def relay_all() -> None:
        barrier.wait()
        while True:
            with factory.begin() as session:
                one = relay.relay_round(session, clock.now(), limit=100)
            with lock:
                taken.append(one.taken)
                made.extend(one.delivery_ids)
            if one.taken == 0:
                return

    threads = [threading.Thread(target=relay_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 1200
    assert len(made) == len(set(made)) == 2400
    with factory() as session:
        pairs = _deliveries(session)
    assert len(pairs) == len(set(pairs)) == 2400
