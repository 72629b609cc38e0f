"""Pricing as a pure function: whatever the basket, discounts and tenders allocated to the lines
add up to the totals to the fen, no line pays below zero, and the pricing order holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from patron.checkout.pricing import BasketLine, Holdings, Wanted, price
from patron.core.errors import InvalidInput
from patron.coupons.evaluator import Context, CouponTerms, Scope
from patron.coupons.models import CouponStatus, CouponType
from patron.points.cash import CashTerms
from patron.points.errors import InsufficientPoints
from patron.stored_value.errors import InsufficientBalance

NOW = datetime(2026, 6, 1, tzinfo=UTC)
WHERE = Context(member_id=1, store_id=1, channel="pos", at=NOW)

lines = st.lists(
    st.builds(
        BasketLine,
        sku=st.sampled_from(["A", "B", "C", "D"]),
        name=st.just("n"),
        category_code=st.sampled_from([None, "FOOD", "HOME"]),
        quantity=st.integers(1, 5),
        unit_price=st.integers(0, 20_000),
        member_price=st.none() | st.integers(0, 100),
    ).map(
        lambda ln: (
            ln
            if ln.member_price is None
            else BasketLine(
                ln.sku,
                ln.name,
                ln.category_code,
                ln.quantity,
                ln.unit_price,
                min(ln.member_price * ln.unit_price // 100, ln.unit_price),
            )
        )
    ),
    min_size=1,
    max_size=6,
)
coupons = st.lists(
    st.builds(
        CouponTerms,
        code=st.sampled_from(["C1", "C2", "C3"]),
        type=st.sampled_from([CouponType.cash_off, CouponType.percent_off, CouponType.voucher]),
        member_id=st.just(1),
        status=st.just(CouponStatus.available),
        valid_from=st.just(NOW - timedelta(days=1)),
        valid_until=st.just(NOW + timedelta(days=1)),
        threshold=st.integers(0, 30_000),
        amount=st.integers(1, 10_000),
        percent_off=st.integers(1, 90),
        max_discount=st.none() | st.integers(1, 5_000),
        scope=st.sampled_from(
            [Scope(), Scope(skus=frozenset({"A"})), Scope(category_codes=frozenset({"FOOD"}))]
        ),
        stacks_with_tier_discount=st.booleans(),
    ),
    max_size=3,
    unique_by=lambda c: c.code,
)
holdings = st.builds(
    Holdings,
    member_id=st.just(1),
    context=st.just(WHERE),
    discount_percent=st.integers(0, 30),
    member_price=st.booleans(),
    coupons=coupons,
    auto=st.booleans(),
    coupons_per_order=st.integers(1, 3),
    cash=st.builds(
        CashTerms,
        points_per_yuan=st.sampled_from([100, 50, 200, 1000]),
        max_share_pct=st.integers(0, 100),
        min_burn=st.integers(0, 500),
        category_caps=st.sampled_from([{}, {"FOOD": 10}]),
    ),
    points_available=st.integers(0, 100_000),
    principal=st.integers(0, 50_000),
    bonus=st.integers(0, 10_000),
    principal_first=st.booleans(),
)


@given(
    lines, holdings, st.just("max") | st.integers(0, 5_000), st.just("max") | st.integers(0, 30_000)
)
def test_allocations_add_up_and_no_line_pays_below_zero(
    basket: list[BasketLine], held: Holdings, points: Wanted, stored: Wanted
) -> None:
    try:
        priced = price(basket, held, points, stored)
    except (InvalidInput, InsufficientPoints, InsufficientBalance):
        return
    for line in priced.lines:
        assert 0 <= line.tier_discount + line.coupon_discount <= line.line.list_amount
        assert line.paid >= line.points_discount + line.stored_value
        assert line.amount_due >= 0
        assert line.points_discount == held.cash.fen_of(line.points)
    assert priced.total("coupon_discount") == sum(d for _, d in priced.coupons)
    assert priced.principal + priced.bonus == priced.total("stored_value")
    assert priced.principal <= held.principal
    assert priced.bonus <= held.bonus
    assert priced.total("points") <= held.points_available
    assert priced.total("stored_value") <= held.principal + held.bonus
    applied = [o for o in priced.offers if o.applied]
    assert len(applied) <= (1 if held.auto else held.coupons_per_order)
    if stored == "max":
        due = priced.total("amount_due")
        assert due == 0 or priced.total("stored_value") == held.principal + held.bonus
