"""What an endpoint receives for an outbox event: the envelope (`id`, `type`, `occurred_at`,
`data`) with the event's payload as `data`, its personal data masked unless the endpoint's scope
is `full`. The id (`evt_<outbox id>`) is the `webhook-id` header too: the same on every retry
and for every endpoint, so that receivers de-duplicate on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from patron.members.masking import mask_birthday, mask_email, mask_mobile, mask_name

# Payload keys that carry personal data, and how a masked scope shows them.
MASKS: dict[str, Callable[[str], str]] = {
    "mobile": mask_mobile,
    "phone": mask_mobile,
    "name": mask_name,
    "member_name": mask_name,
    "email": mask_email,
    "birthday": mask_birthday,
}
FULL = "full"


def event_id(outbox_id: int) -> str:
    return f"evt_{outbox_id}"


def envelope(
    outbox_id: int, type_: str, occurred_at: datetime, payload: Any, pii: str
) -> dict[str, Any]:
    return {
        "id": event_id(outbox_id),
        "type": type_,
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "data": payload if pii == FULL else masked(payload),
    }


def masked(value: Any) -> Any:
    """`value` with every personal field (by key, at any depth) masked."""
    if isinstance(value, dict):
        return {
            key: MASKS[key](item)
            if key in MASKS and isinstance(item, str) and item
            else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value
