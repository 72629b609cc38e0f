"""Count-card products: N uses of a service, valid so many days from sale, at a price. Cards
sold keep the uses and validity they were sold with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.count_cards.errors import ProductNotActive, ProductNotFound
from patron.count_cards.models import CountCardProduct
from patron.count_cards.permissions import EDIT_PRODUCTS
from patron.count_cards.schemas import NOT_NULLABLE

FIELDS = ("name", "service", "uses", "validity_days", "price", "active")


def list_products(session: Session, *, active_only: bool = False) -> list[CountCardProduct]:
    query = select(CountCardProduct).order_by(CountCardProduct.id)
    if active_only:
        query = query.where(CountCardProduct.active.is_(True))
    return list(session.scalars(query))


def get_product(session: Session, product_id: int) -> CountCardProduct:
    product = session.get(CountCardProduct, product_id)
    if product is None:
        raise ProductNotFound(f"no count-card product {product_id}")
    return product


def on_sale(session: Session, product_id: int) -> CountCardProduct:
    """The product, if it may be sold (or given with a package) now: 409 product_not_active."""
    product = get_product(session, product_id)
    if not product.active:
        raise ProductNotActive(f"count-card product {product_id} is not active")
    return product


def save_product(
    session: Session, actor: Actor, values: dict[str, Any], product_id: int | None = None
) -> CountCardProduct:
    """Create a product, or change the given fields of one."""
    EDIT_PRODUCTS.check(actor)
    for field in values.keys() & set(NOT_NULLABLE):
        if values[field] is None:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    product = CountCardProduct() if product_id is None else get_product(session, product_id)
    before = None if product_id is None else _snapshot(product)
    for key, value in values.items():
        setattr(product, key, value)
    session.add(product)
    session.flush()
    audit.record(
        session,
        actor,
        "count_cards.product_create" if before is None else "count_cards.product_update",
        "count_card_product",
        product.id,
        before=before,
        after=_snapshot(product),
    )
    return product


def _snapshot(product: CountCardProduct) -> dict[str, Any]:
    return {k: getattr(product, k) for k in FIELDS}
