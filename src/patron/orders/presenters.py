"""Orders as the API and the console show them: built from the rows, never written back."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.orders.models import (
    Order,
    OrderChannel,
    OrderPayment,
    OrderStatus,
    Refund,
    RefundLine,
)
from patron.orders.schemas import (
    OrderLineOut,
    OrderOut,
    OrderSummary,
    PaymentOut,
    RefundLineOut,
    RefundOut,
)
from patron.orders.service import TakenOrder, lines_of


def summary(order: Order) -> OrderSummary:
    return OrderSummary.model_validate(
        {
            **{
                k: getattr(order, k)
                for k in (
                    "id",
                    "external_id",
                    "store_id",
                    "channel",
                    "member_id",
                    "occurred_at",
                    "total",
                    "tier_id",
                    "tier_discount_amount",
                    "refunded_amount",
                    "status",
                )
            },
            "refundable_amount": order.total - order.refunded_amount,
        }
    )


def taken(order: TakenOrder) -> OrderOut:
    """The order intake just wrote, from what it wrote: no query."""
    return OrderOut(
        id=order.id,
        external_id=order.external_id,
        store_id=order.store_id,
        channel=OrderChannel(order.channel),
        member_id=order.member_id,
        occurred_at=order.occurred_at,
        total=order.total,
        tier_id=order.tier_id,
        tier_discount_amount=order.tier_discount_amount,
        refunded_amount=order.refunded_amount,
        refundable_amount=order.total - order.refunded_amount,
        status=OrderStatus(order.status),
        items=[OrderLineOut.model_validate(line) for line in order.lines],
        payments=[PaymentOut.model_validate(payment) for payment in order.payments],
        refunds=[],
    )


def present(session: Session, order: Order) -> OrderOut:
    lines = lines_of(session, order.id)
    # Keyed on quantities, not amounts: a refund can be worth 0 fen (a free gift, a third of a
    # fen). An order never refunded, as every order just taken in, costs no refund queries.
    refunds = (
        list(session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)))
        if any(line.refunded_quantity for line in lines)
        else []
    )
    refund_lines: dict[int, list[RefundLineOut]] = defaultdict(list)
    if refunds:
        for rl in session.scalars(
            select(RefundLine)
            .where(RefundLine.refund_id.in_([r.id for r in refunds]))
            .order_by(RefundLine.id)
        ):
            refund_lines[rl.refund_id].append(RefundLineOut.model_validate(rl))
    payments = session.scalars(
        select(OrderPayment).where(OrderPayment.order_id == order.id).order_by(OrderPayment.id)
    )
    return OrderOut(
        **summary(order).model_dump(),
        items=[OrderLineOut.model_validate(ln) for ln in lines],
        payments=[PaymentOut.model_validate(p) for p in payments],
        refunds=[
            RefundOut(
                id=r.id,
                order_id=r.order_id,
                amount=r.amount,
                reason=r.reason,
                created_by=r.created_by,
                created_at=r.created_at,
                lines=refund_lines[r.id],
            )
            for r in refunds
        ],
    )
