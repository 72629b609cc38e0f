"""What the stored-value domain publishes: `stored_value.changed`, one event per ledger entry
(recharge, bonus, spend and its reversal, refund, adjustment, merge in and out), with the
account's principal and bonus after it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patron.core.events import EventType


@dataclass(frozen=True)
class StoredValueChanged:
    member_id: int
    entry_id: int
    kind: str  # stored_value.models.EntryKind
    principal_change: int  # signed fen
    bonus_change: int  # signed fen
    principal: int  # after the change, fen
    bonus: int
    balance: int  # principal + bonus
    store_id: int | None
    order_id: int | None
    refund_id: int | None
    recharge_id: int | None
    reason: str
    occurred_at: datetime


STORED_VALUE_CHANGED: EventType[StoredValueChanged] = EventType("stored_value.changed")
