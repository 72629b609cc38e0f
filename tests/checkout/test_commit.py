"""Commits: the quoted basket becomes one order with its coupons, points and stored value;
an expired, used or stale quote and payments that do not add up write nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.checkout import service
from patron.checkout.errors import QuoteExpired, QuoteStale, QuoteUsed
from patron.checkout.models import CheckoutQuote
from patron.checkout.schemas import CommitRequest, QuoteOut, QuoteRequest
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import InvalidInput
from patron.coupons.models import Coupon
from patron.members import codes as member_codes
from patron.orders import service as orders
from patron.orders.models import Order, OrderLine
from patron.orders.schemas import RefundCreate
from patron.points import burning
from patron.points import queries as points_queries
from patron.points.models import PointsEntry
from patron.stored_value import payments
from patron.stored_value.errors import VerificationRequired
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
from tests.checkout.helpers import (
    basket,
    coupon,
    give_points,
    load,
    shop,
    tier_discount,
)
from tests.conftest import QueryCounter

PASSWORD = "246802"


def quote(session: Session, body: dict[str, Any]) -> QuoteOut:
    return service.quote(session, SYSTEM, QuoteRequest.model_validate(body))


def commit(session: Session, out: QuoteOut, **extra: Any) -> service.Committed:
    body: dict[str, Any] = {
        "quote_id": out.quote_id,
        "external_id": f"CO-{out.quote_id[:8]}",
        "payments": [{"method": "wechat_pay", "amount": out.amount_due}] if out.amount_due else [],
        **extra,
    }
    return service.commit(session, SYSTEM, CommitRequest.model_validate(body))


def counts(session: Session) -> tuple[int, ...]:
    return tuple(
        int(session.scalar(select(func.count()).select_from(t)) or 0)
        for t in (Order, StoredValueEntry, CheckoutQuote)
    )


def test_a_commit_records_the_quoted_order_and_marks_the_quote_used(session: Session) -> None:
    where = shop(session)
    tier_discount(session, 5)
    ticket = coupon(session, where.member)
    out = quote(session, basket(where, coupon_codes=[ticket.code]))
    done = commit(session, out)
    order = done.order
    assert order.total == out.total
    assert [ln["paid"] for ln in order.lines] == [ln.paid for ln in out.lines]
    discounts = [ln.tier_discount + ln.coupon_discount for ln in out.lines]
    assert [ln["discount"] for ln in order.lines] == discounts
    assert order.tier_discount_amount == out.tier_discount
    assert done.quote.status == "committed"
    assert done.quote.order_id == order.id
    held = session.get(Coupon, ticket.id, populate_existing=True)
    assert held is not None
    assert (held.status, held.order_id) == ("redeemed", order.id)
    with pytest.raises(QuoteUsed):
        commit(session, out, external_id="ANOTHER")


def test_stored_value_is_debited_with_the_commits_verification(session: Session) -> None:
    where = shop(session)
    load(session, where.member, where.store, 10_000, 1_000)
    payments.set_password(session, SYSTEM, where.member.id, PASSWORD)
    out = quote(session, basket(where, stored_value=5000))
    commit(session, out, verification={"password": PASSWORD})
    account = session.get(StoredValueAccount, where.member.id, populate_existing=True)
    assert account is not None
    taken = 11_000 - account.principal - account.bonus
    assert taken == 5000
    assert (10_000 - account.principal, 1_000 - account.bonus) == (
        out.stored_value_principal,
        out.stored_value_bonus,
    )


def test_a_payer_verified_at_the_quote_is_not_asked_again(session: Session) -> None:
    """The member's code, scanned with the quote, pays once: the commit takes the quote's word
    for it (the code is spent). A quote without a verification needs one at the commit."""
    where = shop(session)
    load(session, where.member, where.store, 10_000)
    code = member_codes.issue_code(session, SYSTEM, where.member.id).code
    out = quote(session, basket(where, stored_value=3000, verification={"member_code": code}))
    assert out.verified
    commit(session, out)
    account = session.get(StoredValueAccount, where.member.id, populate_existing=True)
    assert account is not None
    assert account.principal == 7000
    unproven = quote(session, basket(where, stored_value=1000))
    assert not unproven.verified
    with pytest.raises(VerificationRequired):
        commit(session, unproven)


def test_payments_must_add_up_to_the_amount_due(session: Session) -> None:
    where = shop(session)
    out = quote(session, basket(where))
    before = counts(session)
    for wrong in (
        [{"method": "cash", "amount": out.amount_due - 1}],
        [{"method": "points", "amount": out.amount_due}],
    ):
        with pytest.raises(InvalidInput):
            commit(session, out, payments=wrong)
    assert counts(session) == before


def test_an_expired_quote_is_refused(session: Session) -> None:
    where = shop(session)
    out = quote(session, basket(where))
    before = counts(session)
    with clock.frozen(out.expires_at + timedelta(seconds=1)), pytest.raises(QuoteExpired):
        commit(session, out)
    assert counts(session) == before


def test_a_coupon_used_since_the_quote_makes_it_stale(session: Session) -> None:
    where = shop(session)
    ticket = coupon(session, where.member)
    out = quote(session, basket(where, coupon_codes=[ticket.code]))
    other = quote(session, basket(where, coupon_codes=[ticket.code]))
    commit(session, other)
    before = counts(session)
    with pytest.raises(QuoteStale) as caught:
        commit(session, out)
    fresh = QuoteOut.model_validate(caught.value.extra["quote"])
    assert (fresh.coupon_discount, fresh.amount_due) == (0, out.amount_due + 2000)
    assert fresh.coupons[0].reason == "redeemed"
    assert counts(session) == (before[0], before[1], before[2] + 1)
    assert commit(session, fresh).order.total == fresh.total


def test_points_spent_since_the_quote_make_it_stale(session: Session) -> None:
    where = shop(session)
    give_points(session, where.member, 3000)
    out = quote(session, basket(where, points="max"))
    assert out.points_used == 3000
    burning.burn(session, SYSTEM, where.member.id, 1000, "elsewhere")
    with pytest.raises(QuoteStale) as caught:
        commit(session, out)
    assert caught.value.extra["quote"]["points_used"] == 2000
    assert points_queries.balance(session, where.member.id).available == 2000


def test_refunding_a_committed_order_goes_through_the_refund_path(session: Session) -> None:
    where = shop(session)
    ticket = coupon(session, where.member)
    done = commit(session, quote(session, basket(where, coupon_codes=[ticket.code])))
    orders.refund_order(session, SYSTEM, done.order.id, RefundCreate(all=True))
    held = session.get(Coupon, ticket.id, populate_existing=True)
    assert held is not None
    assert held.status == "available"


def _full_sale(session: Session) -> tuple[Any, QuoteOut, service.Committed]:
    where = shop(session)
    tier_discount(session, 5)
    ticket = coupon(session, where.member)
    give_points(session, where.member, 5000)
    load(session, where.member, where.store, 6000, 600)
    payments.set_password(session, SYSTEM, where.member.id, PASSWORD)
    body = basket(where, coupon_codes=[ticket.code], points=3000, stored_value=4000)
    out = quote(session, body)
    return where, out, commit(session, out, verification={"password": PASSWORD})


def test_one_commit_records_every_tender_on_its_lines(session: Session) -> None:
    where, out, done = _full_sale(session)
    order_id = done.order.id
    lines = session.scalars(
        select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
    ).all()
    assert [(ln.tier_discount, ln.points, ln.stored_value, ln.paid) for ln in lines] == [
        (q.tier_discount, q.points, q.stored_value, q.paid) for q in out.lines
    ]
    burned = session.scalars(
        select(PointsEntry).where(PointsEntry.order_id == order_id, PointsEntry.kind == "burn")
    ).all()
    assert [e.points for e in burned] == [-out.points_used]
    spent = session.scalars(
        select(StoredValueEntry).where(StoredValueEntry.order_id == order_id)
    ).all()
    assert [(-e.principal, -e.bonus) for e in spent] == [
        (out.stored_value_principal, out.stored_value_bonus)
    ]
    methods = {p["method"]: p["amount"] for p in done.order.payments}
    assert methods == {
        "wechat_pay": out.amount_due,
        "points": out.points_discount,
        "stored_value": out.stored_value_used,
    }
    assert points_queries.balance(session, where.member.id).available == (
        5000 - out.points_used + out.earn.points
    )


def test_a_full_refund_restores_the_points_stored_value_and_coupon(session: Session) -> None:
    where, out, done = _full_sale(session)
    orders.refund_order(session, SYSTEM, done.order.id, RefundCreate(all=True))
    assert points_queries.balance(session, where.member.id).available == 5000
    account = session.get(StoredValueAccount, where.member.id, populate_existing=True)
    assert account is not None
    assert (account.principal, account.bonus) == (6000, 600)
    assert [c.reason for c in quote(session, basket(where, coupon_codes="auto")).coupons] == [None]


def _given_back(session: Session, order_id: int) -> tuple[int, int]:
    """Points restored and stored-value fen put back by the order's refunds so far."""
    points = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
            PointsEntry.order_id == order_id, PointsEntry.kind == "refund_restore"
        )
    )
    fen = session.scalar(
        select(
            func.coalesce(func.sum(StoredValueEntry.principal + StoredValueEntry.bonus), 0)
        ).where(StoredValueEntry.order_id == order_id, StoredValueEntry.kind == "spend_reversal")
    )
    return int(points or 0), int(fen or 0)


def test_refunds_of_a_committed_order_give_back_each_lines_tenders(session: Session) -> None:
    _, out, done = _full_sale(session)
    order_id = done.order.id
    lines = session.scalars(
        select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
    ).all()
    first, second = lines
    assert first.quantity == 2

    def refund(line: OrderLine, quantity: int) -> None:
        body = {"items": [{"line_id": line.id, "quantity": quantity}]}
        orders.refund_order(session, SYSTEM, order_id, RefundCreate.model_validate(body))

    refund(first, 1)
    assert _given_back(session, order_id) == (first.points // 2, first.stored_value // 2)
    refund(second, 1)
    half = (first.points // 2 + second.points, first.stored_value // 2 + second.stored_value)
    assert _given_back(session, order_id) == half
    refund(first, 1)
    assert _given_back(session, order_id) == (out.points_used, out.stored_value_used)


def test_statements_of_a_member_sale(session: Session, count_queries: QueryCounter) -> None:
    """A member's basket of catalog skus without tenders: the quote reads the store, the member
    and the catalog (one statement) and inserts the quote; its commit reads the quote (locked),
    takes the order in as intake would and marks the quote committed."""
    where = shop(session)
    commit(session, quote(session, basket(where)))  # the catalog now knows the skus
    session.flush()
    session.expunge_all()  # the store read as a request reads it
    count_queries.count = 0
    quoted = quote(session, basket(where))
    assert count_queries.count == 4
    count_queries.count = 0
    commit(session, quoted)
    intake = count_queries.count - 2
    count_queries.count = 0
    orders.create_order(session, SYSTEM, service._order_of(quoted, _paid(quoted, "CO-X")))
    assert intake == count_queries.count


def _paid(out: QuoteOut, external_id: str) -> CommitRequest:
    paid = [{"method": "wechat_pay", "amount": out.amount_due}]
    return CommitRequest.model_validate(
        {"quote_id": out.quote_id, "external_id": external_id, "payments": paid}
    )
