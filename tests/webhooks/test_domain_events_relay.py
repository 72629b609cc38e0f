"""A webhook subscribed to `points.changed` receives the points an order earned, signed, with
the member's data masked by its scope."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.members import privacy
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.webhooks import delivery, relay
from patron.webhooks.models import WebhookDelivery
from tests.factories import make_member, make_store, order_body
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import endpoint


def _deliver(session: Session, ids: list[int]) -> None:
    taken = delivery.take(session, ids, clock.now(), 2.0)
    delivery.record(session, delivery.send(taken, 2.0, True), clock.now())


def test_a_points_webhook_gets_the_points_an_order_earned(
    session: Session, receiver: Receiver
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    hook = endpoint(session, receiver.url, event_types=["points.changed"])
    order = orders.create_order(
        session, SYSTEM, OrderCreate.model_validate(order_body(store, member_id=member.id))
    )
    ids = relay.relay_round(session, clock.now()).delivery_ids
    assert len(ids) == 1  # not the order.completed or member.registered before it
    _deliver(session, ids)
    [request] = receiver.requests
    body = Webhook(hook.secret).verify(request.body, request.headers)
    assert body["type"] == "points.changed"
    data = body["data"]
    assert (data["member_id"], data["kind"], data["change"], data["balance"]) == (
        member.id,
        "earn",
        120,
        120,
    )
    assert data["order_id"] == order.id


def test_profile_events_are_masked_and_forgotten_on_erasure(
    session: Session, receiver: Receiver
) -> None:
    store = make_store(session)
    hook = endpoint(session, receiver.url, event_types=["member.registered", "member.erased"])
    member = make_member(session, store, mobile="13912345678", name="张伟")
    ids = relay.relay_round(session, clock.now()).delivery_ids
    _deliver(session, ids)
    sent = Webhook(hook.secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert sent["data"]["mobile"] != "+8613912345678"  # masked: the endpoint's default scope
    assert "5678" in sent["data"]["mobile"]
    privacy.erase_member(session, SYSTEM, member.id, "PIPL request")
    session.expire_all()
    kept = session.get(WebhookDelivery, ids[0])
    assert kept is not None
    assert kept.payload["data"] == {"member_id": member.id, "erased": True}
    ids = relay.relay_round(session, clock.now()).delivery_ids
    _deliver(session, ids)
    erased = json.loads(receiver.requests[1].body)
    assert erased["type"] == "member.erased"
    assert set(erased["data"]) == {"member_id", "occurred_at"}
