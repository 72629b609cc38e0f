"""Who is acting: a staff user, an integration's API key, or the system (CLI, jobs)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    hq_admin = "hq_admin"
    hq_marketing = "hq_marketing"
    hq_finance = "hq_finance"
    # Oversees the stores of their regions (区域经理): reads and reports, works no till.
    regional_manager = "regional_manager"
    store_manager = "store_manager"
    cashier = "cashier"
    guide = "guide"
    # Not staff roles: what an API key acts as, and a member on their own page or member API.
    integration = "integration"
    member = "member"


STAFF_ROLES = tuple(r for r in Role if r not in (Role.integration, Role.member))
HQ_ROLES = (Role.hq_admin, Role.hq_marketing, Role.hq_finance)
STORE_ROLES = (Role.store_manager, Role.cashier, Role.guide)


@dataclass(frozen=True)
class Actor:
    kind: Literal["staff", "api_key", "system", "member"]
    id: int | None
    name: str
    role: Role
    # None means every store; otherwise the stores this actor may see and change.
    store_ids: frozenset[int] | None
    # None means not confined to regions; a regional manager's are theirs (their stores are
    # those regions' stores when the actor was made).
    region_ids: frozenset[int] | None = None

    @property
    def all_stores(self) -> bool:
        return self.store_ids is None

    def sees_store(self, store_id: int | None) -> bool:
        return self.store_ids is None or (store_id is not None and store_id in self.store_ids)

    def sees_region(self, region_id: int) -> bool:
        return self.region_ids is None or region_id in self.region_ids

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


def member_actor(member_id: int) -> Actor:
    """A member acting on their own data (the member page, the member API). Services take it
    like any actor; the member routes pass it only their own member id."""
    return Actor(
        kind="member", id=member_id, name=f"member:{member_id}", role=Role.member, store_ids=None
    )


SYSTEM = Actor(kind="system", id=None, name="system", role=Role.hq_admin, store_ids=None)
