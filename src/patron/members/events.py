"""What the members domain publishes: a member registered, updated, merged into another, erased.
Contact data only where the event is about the member's profile (`mobile`, `name`: webhooks
mask them by key unless the endpoint's scope is `full`); `member.erased` carries ids only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patron.core.events import EventType


@dataclass(frozen=True)
class MemberRegistered:
    member_id: int
    store_id: int | None
    channel: str  # members.models.Channel
    source: str  # "api" (any one registration: API, console, checkout), "import"
    mobile: str | None  # None from an import (written set-based, encrypted)
    name: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class MemberUpdated:
    member_id: int
    store_id: int | None
    fields: tuple[str, ...]  # the names of the fields that changed
    mobile: str | None  # the new mobile when it changed, else None
    name: str | None  # the new name when it changed, else None
    occurred_at: datetime


@dataclass(frozen=True)
class MemberMerged:
    source_id: int  # merged away (status merged)
    target_id: int  # the survivor, holding the source's points, stored value, coupons…
    occurred_at: datetime


@dataclass(frozen=True)
class MemberErased:
    member_id: int
    occurred_at: datetime


MEMBER_REGISTERED: EventType[MemberRegistered] = EventType("member.registered")
MEMBER_UPDATED: EventType[MemberUpdated] = EventType("member.updated")
MEMBER_MERGED: EventType[MemberMerged] = EventType("member.merged")
MEMBER_ERASED: EventType[MemberErased] = EventType("member.erased")
