"""Editing a store, closing it included, checks the store policy in the service itself."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from patron.core.actor import Actor, Role
from patron.core.errors import Forbidden
from patron.stores import service as stores
from patron.stores.models import StoreStatus
from patron.stores.schemas import StoreUpdate
from tests.factories import make_store


def _in_store(role: Role, store_id: int) -> Actor:
    return Actor(kind="staff", id=1, name=role.value, role=role, store_ids=frozenset({store_id}))


def test_only_an_editor_of_every_field_closes_a_store(session: Session) -> None:
    store = make_store(session)
    closing = StoreUpdate(status=StoreStatus.closed)
    for role in (Role.cashier, Role.store_manager):
        with pytest.raises(Forbidden):
            stores.update_store(session, _in_store(role, store.id), store.id, closing)
    assert store.status == StoreStatus.open


def test_a_cashier_cannot_edit_what_a_manager_may(session: Session) -> None:
    store = make_store(session, phone="021-1")
    with pytest.raises(Forbidden):
        stores.update_store(
            session, _in_store(Role.cashier, store.id), store.id, StoreUpdate(phone="021-2")
        )
    stores.update_store(
        session, _in_store(Role.store_manager, store.id), store.id, StoreUpdate(phone="021-3")
    )
    assert store.phone == "021-3"
