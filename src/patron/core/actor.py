"""Who is acting: a staff user, an integration's API key, or the system (CLI, jobs)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    hq_admin = "hq_admin"
    hq_marketing = "hq_marketing"
    hq_finance = "hq_finance"
    store_manager = "store_manager"
    cashier = "cashier"
    guide = "guide"
    # Not a staff role: what an API key acts as.
    integration = "integration"


STAFF_ROLES = tuple(r for r in Role if r is not Role.integration)
HQ_ROLES = (Role.hq_admin, Role.hq_marketing, Role.hq_finance)
STORE_ROLES = (Role.store_manager, Role.cashier, Role.guide)


@dataclass(frozen=True)
class Actor:
    kind: Literal["staff", "api_key", "system"]
    id: int | None
    name: str
    role: Role
    # None means every store; otherwise the stores this actor may see and change.
    store_ids: frozenset[int] | None

    @property
    def all_stores(self) -> bool:
        return self.store_ids is None

    def sees_store(self, store_id: int | None) -> bool:
        return self.store_ids is None or (store_id is not None and store_id in self.store_ids)

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


SYSTEM = Actor(kind="system", id=None, name="system", role=Role.hq_admin, store_ids=None)
