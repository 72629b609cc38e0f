"""Creating and editing staff (deactivating them included) checks the staff policy in the service
itself, whoever calls it."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from patron.core.actor import Actor, Role
from patron.core.errors import Forbidden
from patron.staff import service as staff
from patron.staff.schemas import StaffCreate, StaffUpdate
from tests.factories import make_staff, make_store


def test_a_cashier_can_neither_hire_nor_deactivate_staff(session: Session) -> None:
    store = make_store(session)
    cashier = make_staff(session, Role.cashier, [store])
    guide = make_staff(session, Role.guide, [store])
    actor = Actor(
        kind="staff",
        id=cashier.id,
        name="cashier",
        role=Role.cashier,
        store_ids=frozenset({store.id}),
    )
    hire = StaffCreate(
        username="newbie", password="Passw0rd!", role=Role.guide, store_ids=[store.id]
    )
    with pytest.raises(Forbidden):
        staff.create_staff(session, actor, hire)
    with pytest.raises(Forbidden):
        staff.update_staff(session, actor, guide.id, StaffUpdate(is_active=False))
    assert guide.is_active
