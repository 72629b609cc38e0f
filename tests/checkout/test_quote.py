"""Quotes: the pricing order, allocation to the lines to the fen, and that a quote writes
nothing but itself."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.checkout import service
from patron.checkout.models import CheckoutQuote
from patron.checkout.schemas import QuoteOut, QuoteRequest
from patron.core.actor import SYSTEM
from patron.core.errors import InvalidInput
from patron.members import codes as member_codes
from patron.points.errors import InsufficientPoints
from patron.points.models import PointsEntry
from patron.stored_value import payments
from patron.stored_value.errors import InsufficientBalance, VerificationFailed
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
from tests.checkout.helpers import (
    basket,
    coupon,
    give_points,
    line,
    load,
    shop,
    tier_discount,
)


def quote(session: Session, body: dict[str, Any]) -> QuoteOut:
    return service.quote(session, SYSTEM, QuoteRequest.model_validate(body))


def test_a_plain_basket_is_priced_as_given_and_kept(session: Session) -> None:
    where = shop(session)
    out = quote(session, basket(where))
    assert (out.subtotal, out.total, out.amount_due) == (13000, 13000, 13000)
    assert [ln.paid for ln in out.lines] == [10000, 3000]
    assert out.earn.points == 130
    kept = session.get(CheckoutQuote, out.quote_id)
    assert kept is not None
    assert kept.status == "open"
    assert service.get_quote(session, SYSTEM, out.quote_id) == out


def test_tier_discount_then_coupon_then_points_then_stored_value(session: Session) -> None:
    where = shop(session)
    tier_discount(session, 5)
    ticket = coupon(session, where.member)  # 满100减20
    give_points(session, where.member, 10_000)
    load(session, where.member, where.store, 10_000, 1_000)
    body = basket(
        where,
        line("SKU-1", 3, 3333),
        line("SKU-2", 1, 2001),
        coupon_codes=[ticket.code],
        points=2000,
        stored_value="max",
    )
    out = quote(session, body)
    assert out.subtotal == 12000
    assert out.tier_discount == 12000 * 5 // 100
    assert out.coupon_discount == 2000
    assert out.total == 12000 - 600 - 2000
    assert (out.points_used, out.points_discount) == (2000, 2000)
    assert out.stored_value_used == out.total - 2000
    assert out.stored_value_principal + out.stored_value_bonus == out.stored_value_used
    assert out.amount_due == 0
    for priced in out.lines:
        assert priced.paid == priced.list_amount - priced.tier_discount - priced.coupon_discount
        due = priced.paid - priced.points_discount - priced.stored_value
        assert priced.amount_due == due >= 0
    assert sum(ln.tier_discount for ln in out.lines) == out.tier_discount
    assert sum(ln.coupon_discount for ln in out.lines) == 2000
    assert [c.model_dump() for c in out.coupons] == [
        {"code": ticket.code, "applied": True, "discount": 2000, "reason": None}
    ]


def test_auto_picks_the_best_coupon_and_lists_the_others(session: Session) -> None:
    where = shop(session)
    small = coupon(session, where.member, amount=1000, threshold=5000)
    big = coupon(session, where.member)
    too_high = coupon(session, where.member, threshold=100_000)
    out = quote(session, basket(where, coupon_codes="auto"))
    by_code = {c.code: c for c in out.coupons}
    assert by_code[big.code].applied
    assert out.coupon_discount == 2000
    assert not by_code[small.code].applied
    assert by_code[small.code].reason is None
    assert by_code[too_high.code].reason == "below_threshold"


def test_a_refused_coupon_is_listed_and_takes_nothing(session: Session) -> None:
    where = shop(session)
    ticket = coupon(session, where.member, threshold=100_000)
    out = quote(session, basket(where, coupon_codes=[ticket.code.lower(), "NOPE"]))
    assert out.coupon_discount == 0
    assert [(c.code, c.applied, c.reason) for c in out.coupons] == [
        (ticket.code, False, "below_threshold")
    ]


def test_a_coupon_not_stacking_with_the_tier_takes_the_tier_off_its_lines_only(
    session: Session,
) -> None:
    where = shop(session)
    tier_discount(session, 10)
    ticket = coupon(
        session,
        where.member,
        stacks_with_tier_discount=False,
        threshold=0,
        scope={"skus": ["SKU-1"]},
    )
    out = quote(session, basket(where, coupon_codes=[ticket.code]))
    first, second = out.lines
    assert (first.tier_discount, first.coupon_discount) == (0, 2000)
    assert (second.tier_discount, second.coupon_discount) == (300, 0)


def test_member_price_counts_as_the_tier_discount(session: Session) -> None:
    where = shop(session)
    assert quote(session, basket(where, line("SKU-1", 2, 5000, member_price=4500))).total == 10000
    tier_discount(session, 5)
    out = quote(session, basket(where, line("SKU-1", 2, 5000, member_price=4500)))
    assert (out.tier_discount, out.total) == (1000, 9000)
    anonymous = basket(where, line("SKU-1", 2, 5000, member_price=4500), member_id=None)
    assert quote(session, anonymous).tier_discount == 0


def test_max_points_follow_the_policy_share(session: Session) -> None:
    where = shop(session)
    give_points(session, where.member, 1_000_000)
    out = quote(session, basket(where, points="max"))
    assert out.points_discount == 13000 // 2  # at most 50% of the order
    assert out.points_used == out.points_discount  # 100 points = ¥1
    assert sum(ln.points for ln in out.lines) == out.points_used
    assert out.earn.points == (13000 - out.points_discount) // 100


def test_points_refusals(session: Session) -> None:
    where = shop(session)
    give_points(session, where.member, 500)
    with pytest.raises(InsufficientPoints):
        quote(session, basket(where, points=1000))
    with pytest.raises(InvalidInput) as caught:
        quote(session, basket(where, points=50))
    assert caught.value.extra["errors"][0]["code"] == "below_min_burn"
    with pytest.raises(InvalidInput) as caught:
        quote(session, basket(where, points=200, member_id=None))
    assert caught.value.extra["errors"][0]["code"] == "points_need_member"


def test_stored_value_refusals(session: Session) -> None:
    where = shop(session)
    load(session, where.member, where.store, 5000)
    with pytest.raises(InsufficientBalance):
        quote(session, basket(where, stored_value=6000))
    with pytest.raises(InvalidInput) as caught:
        quote(session, basket(where, stored_value=13001))
    assert caught.value.extra["errors"][0]["code"] == "exceeds_amount_due"
    assert quote(session, basket(where, stored_value="max")).stored_value_used == 5000


def test_a_quote_writes_only_itself(session: Session) -> None:
    where = shop(session)
    give_points(session, where.member, 10_000)
    load(session, where.member, where.store, 10_000)

    def counts() -> tuple[int, ...]:
        return tuple(
            int(session.scalar(select(func.count()).select_from(t)) or 0)
            for t in (CheckoutQuote, PointsEntry, StoredValueEntry)
        )

    before = counts()
    quote(session, basket(where, points="max", stored_value="max"))
    assert counts() == (before[0] + 1, *before[1:])


def test_the_member_by_their_code(session: Session) -> None:
    where = shop(session)
    code = member_codes.issue_code(session, SYSTEM, where.member.id).code
    out = quote(session, basket(where, member_id=None, member_code=code))
    assert out.member_id == where.member.id
    with pytest.raises(InvalidInput) as caught:
        quote(session, basket(where, member_id=None, member_code="0" * len(code)))
    assert caught.value.extra["errors"][0]["code"] == "unknown_member"


def test_a_verification_given_with_the_quote_is_checked_and_counted(session: Session) -> None:
    where = shop(session)
    load(session, where.member, where.store, 5000)
    payments.set_password(session, SYSTEM, where.member.id, "246802")
    with pytest.raises(VerificationFailed):
        quote(session, basket(where, stored_value=1000, verification={"password": "135790"}))
    account = session.get(StoredValueAccount, where.member.id, populate_existing=True)
    assert account is not None
    assert account.failed_verifications == 1
    out = quote(session, basket(where, stored_value=1000, verification={"password": "246802"}))
    assert out.verified
    kept = session.get(CheckoutQuote, out.quote_id)
    assert kept is not None
    assert "verification" not in kept.request
    assert "246802" not in str(kept.request) + str(kept.result)
