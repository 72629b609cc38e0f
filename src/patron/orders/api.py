from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response

from patron.core.actor import Actor
from patron.core.moments import Moment
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.coupons.errors import CouponNotApplicable, CouponUnavailable
from patron.deps import ActorDep, IdempotentDep, OneHopRouter, SessionDep, require
from patron.members import visibility
from patron.members.errors import MemberNotFound
from patron.orders import permissions, presenters, service
from patron.orders.models import OrderChannel
from patron.orders.schemas import (
    OrderCreate,
    OrderOut,
    OrderSummary,
    RefundCreate,
    RefundOut,
)
from patron.orders.service import OrderExists, OrderNotFound, RefundExceedsOrder
from patron.stored_value.errors import (
    InsufficientBalance,
    StoredValueLocked,
    VerificationFailed,
    VerificationRequired,
)

router = OneHopRouter(tags=["orders"])
Till = Annotated[Actor, Depends(require(permissions.RECORD))]
Refunder = Annotated[Actor, Depends(require(permissions.REFUND))]


@router.post(
    "/orders",
    response_model=OrderOut,
    status_code=201,
    responses=errors(
        OrderExists,
        CouponUnavailable,
        CouponNotApplicable,
        InsufficientBalance,
        VerificationRequired,
        VerificationFailed,
        StoredValueLocked,
    ),
)
def create_order(
    data: OrderCreate, session: SessionDep, actor: Till, once: IdempotentDep
) -> Response:
    return once(actor, data, lambda: presenters.taken(service.create_order(session, actor, data)))


@router.post(
    "/orders/{order_id}/refunds",
    response_model=RefundOut,
    status_code=201,
    responses=errors(OrderNotFound, RefundExceedsOrder),
)
def refund_order(
    order_id: int,
    data: RefundCreate,
    session: SessionDep,
    actor: Refunder,
    once: IdempotentDep,
) -> Response:
    def work() -> RefundOut:
        refund = service.refund_order(session, actor, order_id, data)
        out = presenters.present(session, service.get_order(session, actor, order_id))
        return next(r for r in out.refunds if r.id == refund.id)

    return once(actor, data, work)


@router.get("/orders", response_model=Page[OrderSummary])
def list_orders(
    session: SessionDep,
    actor: ActorDep,
    store_id: int | None = None,
    member_id: int | None = None,
    channel: OrderChannel | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[OrderSummary]:
    filters = service.OrderFilter(
        store_id=store_id,
        member_id=member_id,
        channel=channel.value if channel else None,
        since=since,
        until=until,
    )
    page = service.list_orders(session, actor, filters, cursor, limit)
    return Page(items=[presenters.summary(o) for o in page.items], next_cursor=page.next_cursor)


@router.get("/orders/{order_id}", response_model=OrderOut, responses=errors(OrderNotFound))
def get_order(order_id: int, session: SessionDep, actor: ActorDep) -> OrderOut:
    return presenters.present(session, service.get_order(session, actor, order_id))


@router.get(
    "/members/{member_id}/orders",
    response_model=Page[OrderSummary],
    responses=errors(MemberNotFound),
)
def member_orders(
    member_id: int,
    session: SessionDep,
    actor: ActorDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[OrderSummary]:
    visibility.get_member(session, actor, member_id)  # 404 unless the caller may read them
    page = service.list_orders(
        session, actor, service.OrderFilter(member_id=member_id), cursor, limit
    )
    return Page(items=[presenters.summary(o) for o in page.items], next_cursor=page.next_cursor)
