"""Orders as the API and the console show them: built from the rows, never written back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

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
from patron.orders.service import TakenOrder, lines_of_orders


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
    return present_all(session, [order])[0]


def present_all(session: Session, orders: Sequence[Order]) -> list[OrderOut]:
    """The orders with their lines, payments and refunds: four queries however many orders
    (refunds only for orders with something refunded)."""
    ids = [order.id for order in orders]
    lines = lines_of_orders(session, ids)
    payments: dict[int, list[PaymentOut]] = defaultdict(list)
    for payment in session.scalars(
        select(OrderPayment).where(OrderPayment.order_id.in_(ids)).order_by(OrderPayment.id)
    ):
        payments[payment.order_id].append(PaymentOut.model_validate(payment))
    # Keyed on quantities, not amounts: a refund can be worth 0 fen (a free gift, a third of a
    # fen). An order never refunded, as every order just taken in, costs no refund queries.
    refunded = [i for i in ids if any(line.refunded_quantity for line in lines[i])]
    refunds = _refunds_of(session, refunded)
    return [
        OrderOut(
            **summary(order).model_dump(),
            items=[OrderLineOut.model_validate(ln) for ln in lines[order.id]],
            payments=payments[order.id],
            refunds=refunds[order.id],
        )
        for order in orders
    ]


def _refunds_of(session: Session, order_ids: list[int]) -> dict[int, list[RefundOut]]:
    shown: dict[int, list[RefundOut]] = defaultdict(list)
    if not order_ids:
        return shown
    refunds = list(
        session.scalars(select(Refund).where(Refund.order_id.in_(order_ids)).order_by(Refund.id))
    )
    refund_lines: dict[int, list[RefundLineOut]] = defaultdict(list)
    for rl in session.scalars(
        select(RefundLine)
        .where(RefundLine.refund_id.in_([r.id for r in refunds]))
        .order_by(RefundLine.id)
    ):
        refund_lines[rl.refund_id].append(RefundLineOut.model_validate(rl))
    for r in refunds:
        shown[r.order_id].append(
            RefundOut(
                id=r.id,
                order_id=r.order_id,
                amount=r.amount,
                reason=r.reason,
                created_by=r.created_by,
                created_at=r.created_at,
                lines=refund_lines[r.id],
            )
        )
    return shown
