from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.checkout import service
from patron.checkout.errors import QuoteNotFound
from patron.checkout.schemas import QuoteOut, QuoteRequest
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.deps import ActorDep, OneHopRouter, SessionDep, require
from patron.orders import permissions as order_permissions
from patron.points.errors import InsufficientPoints
from patron.stored_value.errors import (
    InsufficientBalance,
    StoredValueLocked,
    VerificationFailed,
)

router = OneHopRouter(tags=["checkout"])
Till = Annotated[Actor, Depends(require(order_permissions.RECORD))]


@router.post(
    "/checkout/quote",
    response_model=QuoteOut,
    status_code=201,
    responses=errors(
        InsufficientPoints, InsufficientBalance, VerificationFailed, StoredValueLocked
    ),
)
def create_quote(data: QuoteRequest, session: SessionDep, actor: Till) -> QuoteOut:
    """Price a basket: discounts, coupons, points and stored value allocated to its lines, what
    is left to pay and what the order will earn. Writes nothing but the quote, which its commit
    names within `expires_at`."""
    return service.quote(session, actor, data)


@router.get("/checkout/quotes/{quote_id}", response_model=QuoteOut, responses=errors(QuoteNotFound))
def get_quote(quote_id: str, session: SessionDep, actor: ActorDep) -> QuoteOut:
    return service.get_quote(session, actor, quote_id)
