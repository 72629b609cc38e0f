from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from patron.checkout import service
from patron.checkout.errors import QuoteExpired, QuoteNotFound, QuoteStale, QuoteUsed
from patron.checkout.schemas import CommitOut, CommitRequest, QuoteOut, QuoteRequest
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.coupons.errors import CouponNotApplicable, CouponUnavailable
from patron.deps import ActorDep, IdempotentDep, OneHopRouter, SessionDep, require
from patron.orders import permissions as order_permissions
from patron.orders import presenters
from patron.orders.service import OrderExists
from patron.points.errors import InsufficientPoints
from patron.stored_value.errors import (
    InsufficientBalance,
    StoredValueLocked,
    VerificationFailed,
    VerificationRequired,
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


@router.post(
    "/checkout/commit",
    response_model=CommitOut,
    status_code=201,
    responses=errors(
        QuoteNotFound,
        QuoteExpired,
        QuoteUsed,
        QuoteStale,
        OrderExists,
        CouponUnavailable,
        CouponNotApplicable,
        InsufficientPoints,
        InsufficientBalance,
        VerificationRequired,
        VerificationFailed,
        StoredValueLocked,
    ),
)
def commit(data: CommitRequest, session: SessionDep, actor: Till, once: IdempotentDep) -> Response:
    """Record a quote as one order in one transaction: its coupons redeemed, points burned,
    stored value debited, points and growth earned. The external `payments` add up to the
    quote's `amount_due`. When a balance or a coupon changed since the quote, nothing is written
    and the answer is 409 `quote_stale` carrying the fresh quote as `quote`."""

    def work() -> CommitOut:
        done = service.commit(session, actor, data)
        return CommitOut(order=presenters.taken(done.order), quote=done.quote)

    return once(actor, data, work)
