"""Option lists the forms and filters offer: the stores and guides an actor may name."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import Actor, Role
from patron.core.pagination import MAX_LIMIT
from patron.staff import service as staff
from patron.staff.models import StaffUser
from patron.stores import service as stores
from patron.stores.models import Store


def store_options(session: Session, actor: Actor) -> list[Store]:
    """Every store the actor sees, by code: what a filter or a scope may name."""
    options: list[Store] = []
    cursor = None
    while True:
        page = stores.list_stores(session, actor, stores.StoreFilter(), cursor, MAX_LIMIT)
        options.extend(page.items)
        if page.next_cursor is None:
            return sorted(options, key=lambda store: store.code)
        cursor = page.next_cursor


def guide_suggestions(session: Session, actor: Actor) -> list[StaffUser]:
    """Active sales guides the actor may see, as suggestions for a guide field (one page)."""
    page = staff.list_staff(session, actor, None, MAX_LIMIT, role=Role.guide)
    return sorted((u for u in page.items if u.is_active), key=lambda user: user.username)
