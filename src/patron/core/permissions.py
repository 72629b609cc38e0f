"""Who may do what: a named permission, declared once in its domain's `permissions` module.

The API guards, the console's controls and the services' own checks all read the declaration,
so a role set is written in one place only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from patron.core.actor import Actor, Role
from patron.core.errors import Forbidden


@dataclass(frozen=True, init=False)
class Permission:
    name: str
    # In the order of `Role`, so that a refusal lists the roles the same way every time.
    roles: tuple[Role, ...]

    def __init__(self, name: str, roles: Iterable[Role]) -> None:
        wanted = frozenset(roles)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "roles", tuple(role for role in Role if role in wanted))

    def allows(self, actor: Actor) -> bool:
        return actor.role in self.roles

    def check(self, actor: Actor) -> None:
        if not self.allows(actor):
            raise Forbidden(f"this needs one of the roles: {', '.join(self.roles)}")
