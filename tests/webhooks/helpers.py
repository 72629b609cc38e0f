from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.events import OutboxEvent
from patron.webhooks import service
from patron.webhooks.models import WebhookEndpoint
from patron.webhooks.schemas import WebhookCreate


def endpoint(
    session: Session, url: str = "http://127.0.0.1:9/hook", **fields: Any
) -> WebhookEndpoint:
    data = WebhookCreate.model_validate({"url": url, "event_types": ["*"]} | fields)
    return service.create(session, SYSTEM, data, allow_private=True)[0]


def outbox(
    session: Session, type_: str = "order.completed", payload: Any = None, n: int = 1
) -> list[int]:
    rows = [
        OutboxEvent(
            type=type_,
            entity_id=str(i),
            payload=payload if payload is not None else {"order_id": i},
            occurred_at=clock.now(),
            attempts=0,
        )
        for i in range(n)
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]
