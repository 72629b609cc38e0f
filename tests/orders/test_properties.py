"""Refund arithmetic under random sequences: nothing is lost or minted."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.orders import presenters
from patron.orders import service as orders
from patron.orders.models import OrderLine
from patron.orders.schemas import OrderCreate, RefundCreate
from tests.factories import make_store, order_body

lines = st.lists(
    st.tuples(
        st.integers(1, 7), st.integers(0, 100_000), st.integers(0, 5000)
    ),  # qty, price, discount
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=lines,
    steps=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 8)), max_size=12),
    finish=st.booleans(),
)
def test_refunds_conserve_money(
    session: Session, spec: list[tuple[int, int, int]], steps: list[tuple[int, int]], finish: bool
) -> None:
    items = []
    for n, (quantity, price, discount) in enumerate(spec):
        discount = min(discount, quantity * price)
        items.append(
            {
                "sku": f"P{n}",
                "name": "x",
                "quantity": quantity,
                "unit_price": price,
                "discount": discount,
                "paid": quantity * price - discount,
            }
        )
    total = sum(i["paid"] for i in items)
    assume(total > 0)  # an order selling nothing is refused
    payments = [{"method": "cash", "amount": total}]
    with session.begin_nested() as savepoint:
        store = make_store(session)
        order = orders.create_order(
            session,
            SYSTEM,
            OrderCreate.model_validate(order_body(store, items=items, payments=payments)),
        )
        order_lines = orders.lines_of(session, order.id)
        refunded, refund_ids = 0, []
        for index, quantity in steps:
            line = order_lines[index % len(order_lines)]
            request = RefundCreate.model_validate(
                {"items": [{"line_id": line.id, "quantity": quantity}]}
            )
            if quantity > line.quantity - line.refunded_quantity:
                with pytest.raises(orders.RefundExceedsOrder):
                    orders.refund_order(session, SYSTEM, order.id, request)
                continue
            refund = orders.refund_order(session, SYSTEM, order.id, request)
            assert refund.amount >= 0
            refunded += refund.amount
            refund_ids.append(refund.id)
        if finish and any(ln.refunded_quantity < ln.quantity for ln in order_lines):
            rest = orders.refund_order(session, SYSTEM, order.id, RefundCreate(all=True))
            refunded += rest.amount
            refund_ids.append(rest.id)
        order = orders.get_order(session, SYSTEM, order.id)  # intake's answer is as taken in
        shown = presenters.present(session, order).refunds
        assert [r.id for r in shown] == refund_ids, "every refund shows, 0 fen ones too"
        for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)):
            assert line.refunded_amount == line.paid * line.refunded_quantity // line.quantity
        assert order.refunded_amount == refunded <= order.total
        if finish:
            assert refunded == total
            assert order.status == "refunded"
        savepoint.rollback()
