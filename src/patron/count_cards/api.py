from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.count_cards import cards, permissions, presenters, products, uses
from patron.count_cards.errors import (
    CardExpired,
    CardNotFound,
    CardVoid,
    NoUsesLeft,
    ProductNotActive,
    ProductNotFound,
    RevokeWindowOver,
    UseNotFound,
    UseRevoked,
)
from patron.count_cards.schemas import (
    CardDetailOut,
    CardOut,
    ProductIn,
    ProductOut,
    ProductUpdate,
    SaleIn,
    UseIn,
    UseResultOut,
)
from patron.deps import ActorDep, IdempotentDep, OneHopRouter, SessionDep, require
from patron.members import errors as member_errors
from patron.stored_value.errors import (
    InsufficientBalance,
    StoredValueLocked,
    VerificationFailed,
    VerificationRequired,
)
from patron.stored_value.payments import Verification

router = OneHopRouter(tags=["count cards"])
Marketing = Annotated[Actor, Depends(require(permissions.EDIT_PRODUCTS))]
Seller = Annotated[Actor, Depends(require(permissions.SELL))]
User = Annotated[Actor, Depends(require(permissions.USE))]
Revoker = Annotated[Actor, Depends(require(permissions.REVOKE_USE))]


@router.get("/count-card-products", response_model=list[ProductOut])
def list_products(session: SessionDep, actor: ActorDep) -> list[ProductOut]:
    """Every role sees the products: the till offers them."""
    return [ProductOut.model_validate(p) for p in products.list_products(session)]


@router.post("/count-card-products", response_model=ProductOut, status_code=201)
def create_product(data: ProductIn, session: SessionDep, actor: Marketing) -> ProductOut:
    product = products.save_product(session, actor, data.model_dump())
    return ProductOut.model_validate(product)


@router.get(
    "/count-card-products/{card_product_id}",
    response_model=ProductOut,
    responses=errors(ProductNotFound),
)
def get_product(card_product_id: int, session: SessionDep, actor: ActorDep) -> ProductOut:
    return ProductOut.model_validate(products.get_product(session, card_product_id))


@router.patch(
    "/count-card-products/{card_product_id}",
    response_model=ProductOut,
    responses=errors(ProductNotFound),
)
def update_product(
    card_product_id: int, data: ProductUpdate, session: SessionDep, actor: Marketing
) -> ProductOut:
    """Cards sold keep the uses and validity they were sold with."""
    values = data.model_dump(exclude_unset=True)
    return ProductOut.model_validate(products.save_product(session, actor, values, card_product_id))


@router.post(
    "/members/{member_id}/count-cards",
    response_model=CardOut,
    status_code=201,
    responses=errors(
        member_errors.MemberNotFound,
        member_errors.MemberNotActive,
        ProductNotFound,
        ProductNotActive,
        InsufficientBalance,
        VerificationRequired,
        VerificationFailed,
        StoredValueLocked,
    ),
)
def sell(
    member_id: int, data: SaleIn, session: SessionDep, actor: Seller, once: IdempotentDep
) -> Response:
    def work() -> CardOut:
        given = data.payment.verification
        payment = cards.Payment(
            data.payment.method.value,
            data.payment.reference,
            Verification(given.member_code, given.password) if given else None,
        )
        card = cards.sell(session, actor, member_id, data.store_id, data.product_id, payment)
        return presenters.card_out(cards.card_view(session, card.id))

    return once(actor, data, work)


@router.get(
    "/members/{member_id}/count-cards",
    response_model=list[CardOut],
    responses=errors(member_errors.MemberNotFound),
)
def member_cards(member_id: int, session: SessionDep, actor: ActorDep) -> list[CardOut]:
    """The member's cards, newest first, with a status derived now: available, used_up,
    expired, or void (given with a recharge that was refunded)."""
    return [presenters.card_out(v) for v in cards.cards_of_member(session, actor, member_id)]


@router.get("/count-cards/{card_id}", response_model=CardDetailOut, responses=errors(CardNotFound))
def get_card(card_id: int, session: SessionDep, actor: ActorDep) -> CardDetailOut:
    return presenters.card_detail_out(cards.card_detail(session, actor, card_id))


@router.post(
    "/count-cards/{card_id}/uses",
    response_model=UseResultOut,
    status_code=201,
    responses=errors(
        CardNotFound, NoUsesLeft, CardExpired, CardVoid, member_errors.MemberNotActive
    ),
)
def use(
    card_id: int, data: UseIn, session: SessionDep, actor: User, once: IdempotentDep
) -> Response:
    """One use at the store, by the caller; answers the uses left."""

    def work() -> UseResultOut:
        return presenters.use_result_out(uses.use_card(session, actor, card_id, data.store_id))

    return once(actor, data, work)


@router.post(
    "/count-cards/{card_id}/uses/{use_id}/revoke",
    response_model=UseResultOut,
    responses=errors(CardNotFound, UseNotFound, UseRevoked, RevokeWindowOver),
)
def revoke(card_id: int, use_id: int, session: SessionDep, actor: Revoker) -> UseResultOut:
    """Give a use back, on the business day it was made, at its store."""
    return presenters.use_result_out(uses.revoke_use(session, actor, card_id, use_id))
