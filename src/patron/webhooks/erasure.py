"""An erased member's contact data leaves the webhook deliveries too: the bodies kept of their
`member.registered` and `member.updated` events (sent, or waiting for a retry) keep only ids.
The outbox rows themselves are cleared by the erasure (`members.privacy`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import events
from patron.core.events import OutboxEvent
from patron.members.events import MEMBER_ERASED, MEMBER_REGISTERED, MEMBER_UPDATED, MemberErased
from patron.webhooks.models import WebhookDelivery

PROFILE_EVENTS = (MEMBER_REGISTERED.name, MEMBER_UPDATED.name)


@MEMBER_ERASED.subscribers.register("webhooks.forget")
def _forget_deliveries(session: Session, event: events.Event[MemberErased]) -> None:
    member_id = event.payload.member_id
    outbox_ids = select(OutboxEvent.id).where(
        OutboxEvent.type.in_(PROFILE_EVENTS), OutboxEvent.entity_id == str(member_id)
    )
    for delivery in session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.event_type.in_(PROFILE_EVENTS),
            WebhookDelivery.event_id.in_(outbox_ids),
        )
    ):
        delivery.payload = {**delivery.payload, "data": {"member_id": member_id, "erased": True}}
    session.flush()
