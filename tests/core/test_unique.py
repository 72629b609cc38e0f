"""`db.unique_or`: a broken unique constraint, named on PostgreSQL and spelled out as columns on
SQLite, becomes the domain's 409; anything else still fails as it did."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.catalog.schemas import CategoryCreate, ProductCreate
from patron.core.actor import SYSTEM
from patron.core.db import unique_or
from patron.core.errors import Conflict, PatronError
from patron.members import attributes
from patron.members.models import AttributeType
from patron.members.schemas import AttributeCreate
from patron.orders.models import Order
from patron.stores.models import Store
from tests.factories import make_api_key, make_order, make_staff, make_store

CREATES: list[tuple[Callable[[Session], object], str]] = [
    (lambda session: make_store(session, "DUP01"), "store_code_exists"),
    (lambda session: make_staff(session, username="twice"), "username_taken"),
    (
        lambda session: catalog.create_category(
            session, SYSTEM, CategoryCreate(code="DUP", name="重复")
        ),
        "code_taken",
    ),
    (
        lambda session: catalog.create_product(
            session, SYSTEM, ProductCreate(sku="DUP-SKU", name="重复", list_price=100)
        ),
        "code_taken",
    ),
    (
        lambda session: attributes.create_attribute(
            session, SYSTEM, AttributeCreate(code="dup", label="重复", type=AttributeType.text)
        ),
        "attribute_exists",
    ),
]


@pytest.mark.parametrize(
    ("create", "code"), CREATES, ids=["store", "staff", "category", "product", "attribute"]
)
def test_a_second_create_of_one_code_is_the_domains_conflict(
    session: Session, create: Callable[[Session], object], code: str
) -> None:
    create(session)
    with pytest.raises(PatronError) as refused:
        create(session)
    assert (refused.value.status, refused.value.code) == (409, code)
    assert make_store(session).id  # the failed insert is undone; the transaction goes on


def twin_of(order: Order) -> Order:
    """Another order with the same store and order number."""
    return Order(
        store_id=order.store_id,
        external_id=order.external_id,
        channel=order.channel,
        occurred_at=order.occurred_at,
        total=order.total,
    )


def test_a_constraint_over_two_columns_is_recognised(session: Session) -> None:
    order = make_order(session, make_store(session))
    mapped = {"uq_orders_store_id_external_id": Conflict("twin")}
    with pytest.raises(Conflict, match="twin"), unique_or(session, mapped):
        session.add(twin_of(order))


def test_other_integrity_errors_are_not_mistaken_for_the_named_one(session: Session) -> None:
    order = make_order(session, make_store(session, "KEEP1"))
    mapped = {"uq_stores_code": Conflict("store code taken")}
    with pytest.raises(IntegrityError), unique_or(session, mapped):  # another unique constraint
        session.add(twin_of(order))
    with pytest.raises(IntegrityError), unique_or(session, mapped):  # not a unique one at all
        session.add(Store(code="NULL1", name=None, type="owned", city="上海"))
    assert session.scalar(select(func.count()).select_from(Store).where(Store.code == "KEEP1"))


def test_the_error_may_be_made_after_the_conflict(session: Session) -> None:
    """A function in place of the error runs once the savepoint is rolled back: it may look up
    who holds the value, and the transaction goes on."""
    make_store(session, "HELD1")

    def holder() -> Conflict:
        held = session.scalar(select(Store.id).where(Store.code == "HELD1"))
        return Conflict(f"held by store {held}")

    with (
        pytest.raises(Conflict, match="held by store"),
        unique_or(session, {"uq_stores_code": holder}),
    ):
        session.add(Store(code="HELD1", name="重复", type="owned", city="上海"))


def test_a_store_named_twice_in_a_scope_is_one_scope(session: Session) -> None:
    """pk_staff_store_scopes and pk_api_key_store_scopes: a repeated store id is kept once."""
    from patron.apikeys.models import ApiKeyStoreScope
    from patron.core.actor import Role
    from patron.staff.models import StaffStoreScope

    store = make_store(session)
    user = make_staff(session, Role.cashier, [store, store])
    make_api_key(session, [store, store], name="twice")
    scopes = [
        select(func.count()).where(StaffStoreScope.staff_id == user.id),
        select(func.count()).where(ApiKeyStoreScope.store_id == store.id),
    ]
    assert [session.scalar(s) for s in scopes] == [1, 1]
