"""Refund arithmetic under random sequences: nothing is lost or minted."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.orders import presenters
from patron.orders import service as orders
from patron.orders.models import OrderLine
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points import cash
from patron.points import queries as points_queries
from patron.points.models import EntryKind as PointsKind
from patron.points.models import PointsEntry
from patron.stored_value import ledger as sv_ledger
from patron.stored_value import payments as sv_payments
from patron.stored_value.models import EntryKind as SvKind
from patron.stored_value.models import StoredValueEntry
from patron.stores.models import Store
from tests.factories import make_member, make_store, order_body

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


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=lines,
    points_part=st.integers(0, 1000),
    value_part=st.integers(0, 1000),
    steps=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 8)), max_size=10),
)
def test_partial_refunds_give_back_exactly_the_tenders_by_the_end(
    session: Session,
    spec: list[tuple[int, int, int]],
    points_part: int,
    value_part: int,
    steps: list[tuple[int, int]],
) -> None:
    """An order paid with points, stored value (principal and bonus) and cash, refunded line by
    line at random: each refund gives back its lines' cumulative share of their tenders, never
    more, and the last one everything the order took."""
    items = [
        {
            "sku": f"P{n}",
            "name": "x",
            "category_code": "GEN",
            "quantity": quantity,
            "unit_price": price,
            "discount": min(discount, quantity * price),
            "paid": quantity * price - min(discount, quantity * price),
        }
        for n, (quantity, price, discount) in enumerate(spec)
    ]
    total = sum(i["paid"] for i in items)
    assume(total > 0)
    # Rows of an example rolled back may come back under their ids: forget the loaded ones.
    session.expunge_all()
    with session.begin_nested() as savepoint:
        store = make_store(session)
        member = make_member(session, store)
        _fund(session, member.id, store.id)
        terms = cash.terms(session)
        pay_lines = [cash.PayLine("GEN", i["paid"]) for i in items]
        most = cash.most(terms, pay_lines, 100_000, with_coupons=False)
        points = terms.min_burn + points_part * (most - terms.min_burn) // 1000 if most else 0
        value = min((total - terms.fen_of(points)) * value_part // 1000, sum(_SV_FUNDS))
        payments = [
            {"method": method, "amount": amount}
            for method, amount in (
                ("points", terms.fen_of(points)),
                ("stored_value", value),
                ("cash", total - terms.fen_of(points) - value),
            )
            if amount
        ]
        if value:
            payments[1 if points else 0]["verification"] = {"password": PASSWORD}
        body = order_body(store, items=items, payments=payments, member_id=member.id)
        order = orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
        start = _tenders_left(session, member.id, order.id)
        order_lines = orders.lines_of(session, order.id)
        assert sum(ln.points for ln in order_lines) == points
        assert sum(ln.stored_value for ln in order_lines) == value
        for index, quantity in [*steps, (-1, 0)]:
            if index < 0:
                request = RefundCreate(all=True)
            else:
                line = order_lines[index % len(order_lines)]
                left = line.quantity - line.refunded_quantity
                assume(left)
                request = RefundCreate.model_validate(
                    {"items": [{"line_id": line.id, "quantity": min(quantity, left)}]}
                )
            if all(ln.refunded_quantity == ln.quantity for ln in order_lines):
                break
            orders.refund_order(session, SYSTEM, order.id, request)
            points_back, value_back = _given_back(session, order.id)
            shares = [
                (
                    ln.points * ln.refunded_quantity // ln.quantity,
                    ln.stored_value * ln.refunded_quantity // ln.quantity,
                )
                for ln in order_lines
            ]
            assert points_back == sum(p for p, _ in shares) <= points
            assert value_back == sum(v for _, v in shares) <= value
        assert _given_back(session, order.id) == (points, value)
        end = _tenders_left(session, member.id, order.id)
        assert end == (start[0] + points, start[1] + value, *_SV_FUNDS)
        savepoint.rollback()


PASSWORD = "246802"
_SV_FUNDS = (500_000, 50_000)  # principal, bonus


def _fund(session: Session, member_id: int, store_id: int) -> None:
    """100,000 points (an order paid in cash) and ¥5,000 + ¥500 bonus of stored value."""
    sv_payments.set_password(session, SYSTEM, member_id, PASSWORD)
    account = sv_ledger.lock_accounts(session, [member_id])[member_id]
    principal, bonus = _SV_FUNDS
    sv_ledger.post(session, account, SvKind.recharge, principal, 0, store_id=store_id, operator="t")
    sv_ledger.post(session, account, SvKind.bonus, 0, bonus, store_id=store_id, operator="t")
    store = session.get(Store, store_id)
    assert store is not None
    items = [{"sku": "FUND", "name": "x", "quantity": 1, "unit_price": 10**7, "paid": 10**7}]
    body = order_body(
        store, items=items, payments=[{"method": "cash", "amount": 10**7}], member_id=member_id
    )
    orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))


def _given_back(session: Session, order_id: int) -> tuple[int, int]:
    """Points restored (or lapsed) and stored-value fen put back for the order so far."""
    restored = session.execute(
        select(
            func.coalesce(func.sum(PointsEntry.points + PointsEntry.lapsed), 0),
        ).where(
            PointsEntry.order_id == order_id,
            PointsEntry.kind == PointsKind.refund_restore.value,
        )
    ).scalar_one()
    back = session.execute(
        select(
            func.coalesce(func.sum(StoredValueEntry.principal + StoredValueEntry.bonus), 0)
        ).where(
            StoredValueEntry.order_id == order_id,
            StoredValueEntry.kind == SvKind.spend_reversal.value,
        )
    ).scalar_one()
    return int(restored), int(back)


def _tenders_left(session: Session, member_id: int, order_id: int) -> tuple[int, int, int, int]:
    """Points available less what the order earned (its earning is reversed by its refunds),
    what the order took of them, and the stored-value principal and bonus."""
    earned = session.execute(
        select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
            PointsEntry.order_id == order_id,
            PointsEntry.kind.in_((PointsKind.earn.value, PointsKind.refund_reversal.value)),
        )
    ).scalar_one()
    available = points_queries.balance(session, member_id).available - int(earned)
    taken = session.execute(
        select(
            func.coalesce(func.sum(StoredValueEntry.principal + StoredValueEntry.bonus), 0)
        ).where(StoredValueEntry.order_id == order_id)
    ).scalar_one()
    account = sv_ledger.lock_accounts(session, [member_id])[member_id]
    return available, int(taken), account.principal, account.bonus
