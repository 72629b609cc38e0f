"""The coupon evaluator: examples of each type and refusal, and properties of what it gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from patron.coupons.evaluator import (
    Context,
    CouponTerms,
    Line,
    Outcome,
    Refusal,
    Scope,
    best,
    combination_refusal,
    evaluate,
)
from patron.coupons.models import CouponStatus, CouponType

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
CONTEXT = Context(member_id=7, store_id=1, channel="pos", at=AT)


def coupon(type_: CouponType = CouponType.cash_off, **fields: object) -> CouponTerms:
    values: dict[str, object] = {
        "code": "C1",
        "type": type_,
        "member_id": 7,
        "status": CouponStatus.available,
        "valid_from": AT - timedelta(days=1),
        "valid_until": AT + timedelta(days=1),
    }
    return CouponTerms(**(values | fields))  # type: ignore[arg-type]


def line(sku: str = "A", amount: int = 10000, category: str | None = "FOOD", **kw: int) -> Line:
    quantity = kw.get("quantity", 1)
    unit_price = kw.get("unit_price", amount // quantity)
    return Line(sku, category, quantity, unit_price, amount, kw.get("discount", 0))


# --- examples ---------------------------------------------------------------------------------


def test_cash_off_gives_its_amount_once_the_threshold_is_met() -> None:
    terms = coupon(threshold=10000, amount=2000)
    assert evaluate(terms, [line(amount=10000)], CONTEXT) == Outcome(discount=2000)
    assert evaluate(terms, [line(amount=9999)], CONTEXT).refusal == Refusal.below_threshold


def test_the_threshold_counts_in_scope_lines_only() -> None:
    terms = coupon(threshold=10000, amount=2000, scope=Scope(category_codes=frozenset({"FOOD"})))
    lines = [line("A", 6000), line("B", 6000, category="TOYS")]
    assert evaluate(terms, lines, CONTEXT).refusal == Refusal.below_threshold
    assert evaluate(terms, [*lines, line("C", 4000)], CONTEXT).discount == 2000


def test_percent_off_rounds_down_and_respects_its_cap() -> None:
    terms = coupon(CouponType.percent_off, percent_off=15, max_discount=1000)
    assert evaluate(terms, [line(amount=3333)], CONTEXT).discount == 499
    assert evaluate(terms, [line(amount=100000)], CONTEXT).discount == 1000


def test_voucher_gives_at_most_the_in_scope_amount() -> None:
    terms = coupon(CouponType.voucher, amount=5000)
    assert evaluate(terms, [line(amount=3000)], CONTEXT).discount == 3000
    assert evaluate(terms, [line(amount=8000)], CONTEXT).discount == 5000


def test_gift_gives_one_unit_of_its_product_on_the_order() -> None:
    terms = coupon(CouponType.gift, gift_sku="CAKE")
    lines = [line("A", 5000), line("CAKE", 3000, quantity=2, unit_price=1500)]
    assert evaluate(terms, lines, CONTEXT).discount == 1500
    assert evaluate(terms, lines[:1], CONTEXT).refusal == Refusal.gift_not_on_order
    excluded = replace(terms, scope=Scope(exclude_skus=frozenset({"CAKE"})))
    assert evaluate(excluded, lines, CONTEXT).refusal == Refusal.out_of_scope


def test_shipping_takes_off_the_delivery_line_only() -> None:
    terms = coupon(CouponType.shipping, amount=1000, threshold=9900)
    goods = line("A", 9900)
    assert evaluate(terms, [goods, line("SHIPPING", 600)], CONTEXT).discount == 600
    assert evaluate(terms, [goods, line("SHIPPING", 1500)], CONTEXT).discount == 1000
    assert evaluate(terms, [goods], CONTEXT).refusal == Refusal.no_delivery
    cheap = [line("A", 9000), line("SHIPPING", 1500)]
    assert evaluate(terms, cheap, CONTEXT).refusal == Refusal.below_threshold


def test_delivery_never_counts_toward_goods() -> None:
    terms = coupon(CouponType.percent_off, percent_off=50)
    assert evaluate(terms, [line("A", 1000), line("SHIPPING", 5000)], CONTEXT).discount == 500
    assert evaluate(terms, [line("SHIPPING", 5000)], CONTEXT).refusal == Refusal.out_of_scope


def test_what_the_coupon_already_took_is_counted_back() -> None:
    """An order arrives with the coupon applied: 10,000 spent, 2,000 off, 8,000 paid."""
    terms = coupon(threshold=10000, amount=2000)
    assert evaluate(terms, [line(amount=8000, discount=2000)], CONTEXT, taken=2000).discount == 2000


def test_a_discount_off_a_line_out_of_scope_is_not_counted_back() -> None:
    """A ¥20 voucher for SKU A, whose ¥20 the till took off SKU B: A's ¥10 is all it covers."""
    terms = coupon(type=CouponType.voucher, amount=2000, scope=Scope(skus=frozenset({"A"})))
    lines = [line("A", amount=1000), line("B", amount=98000, discount=2000)]
    assert evaluate(terms, lines, CONTEXT, taken=2000).discount == 1000


def test_the_coupon_itself_must_be_usable_by_this_member_now() -> None:
    lines = [line()]
    for terms, context, reason in (
        (coupon(status=CouponStatus.redeemed), CONTEXT, Refusal.redeemed),
        (coupon(status=CouponStatus.void), CONTEXT, Refusal.void),
        (
            coupon(status=CouponStatus.expired, valid_until=AT - timedelta(seconds=1)),
            CONTEXT,
            Refusal.expired,
        ),
        (coupon(status=CouponStatus.redeemed, member_id=8), CONTEXT, Refusal.other_member),
        (coupon(valid_until=AT - timedelta(seconds=1)), CONTEXT, Refusal.expired),
        (coupon(valid_from=AT + timedelta(seconds=1)), CONTEXT, Refusal.not_yet_valid),
        (coupon(member_id=8), CONTEXT, Refusal.other_member),
        (coupon(), replace(CONTEXT, member_id=None), Refusal.no_member),
    ):
        outcome = evaluate(terms, lines, context)
        assert (outcome.refusal, outcome.discount) == (reason, 0)
        assert reason.unavailable
    assert evaluate(coupon(amount=100, valid_until=AT), lines, CONTEXT).discount == 100
    # Marked expired by the job, it still serves an order made while it was valid.
    marked = coupon(amount=100, status=CouponStatus.expired, valid_until=AT)
    assert evaluate(marked, lines, CONTEXT).discount == 100


def test_store_channel_and_stacking_rules() -> None:
    lines = [line()]
    for terms, context, reason in (
        (coupon(scope=Scope(store_ids=frozenset({2}))), CONTEXT, Refusal.store_not_in_scope),
        (coupon(scope=Scope(exclude_store_ids=frozenset({1}))), CONTEXT, Refusal.store_not_in_scope),
        (coupon(scope=Scope(channels=frozenset({"online_mall"}))), CONTEXT, Refusal.channel_not_in_scope),
        (coupon(scope=Scope(exclude_channels=frozenset({"pos"}))), CONTEXT, Refusal.channel_not_in_scope),
        (coupon(stacks_with_points=False), replace(CONTEXT, points_pay=True), Refusal.not_with_points),
        (
            coupon(stacks_with_tier_discount=False),
            replace(CONTEXT, tier_discount=True),
            Refusal.not_with_tier_discount,
        ),
    ):  # fmt: skip
        outcome = evaluate(terms, lines, context)
        assert outcome.refusal == reason
        assert not reason.unavailable
    stacking = coupon(amount=100)
    assert evaluate(stacking, lines, replace(CONTEXT, points_pay=True, tier_discount=True)).applies


def test_a_coupon_that_does_not_stack_is_refused_only_on_tier_discounted_lines_in_scope() -> None:
    """Lines that say which carry the tier discount: a coupon not stacking with it is judged on
    its own scope's lines."""
    food = replace(line("A", category="FOOD"), tier_discounted=True)
    wine = line("B", category="WINE")
    for_wine = coupon(
        amount=100, stacks_with_tier_discount=False, scope=Scope(category_codes=frozenset({"WINE"}))
    )
    assert evaluate(for_wine, [food, wine], CONTEXT).applies
    everything = coupon(amount=100, stacks_with_tier_discount=False)
    refused = evaluate(everything, [food, wine], CONTEXT)
    assert refused.refusal == Refusal.not_with_tier_discount
    stacking = coupon(amount=100)
    assert evaluate(stacking, [food, wine], CONTEXT).applies
    shipping = coupon(CouponType.shipping, amount=500, stacks_with_tier_discount=False)
    delivery = replace(line("SHIPPING", amount=800, category=None), tier_discounted=True)
    assert evaluate(shipping, [wine, delivery], CONTEXT).refusal == Refusal.not_with_tier_discount
    assert evaluate(shipping, [food, replace(delivery, tier_discounted=False)], CONTEXT).applies


def test_scope_takes_listed_categories_or_skus_less_exclusions() -> None:
    scope = Scope(
        category_codes=frozenset({"FOOD"}),
        skus=frozenset({"TOY-1"}),
        exclude_skus=frozenset({"FOOD-9"}),
    )
    assert scope.takes_line(line("FOOD-1"))
    assert scope.takes_line(line("TOY-1", category="TOYS"))
    assert not scope.takes_line(line("TOY-2", category="TOYS"))
    assert not scope.takes_line(line("FOOD-9"))
    assert not Scope(exclude_category_codes=frozenset({"FOOD"})).takes_line(line())
    stored = {"skus": ["TOY-1"], "category_codes": ["FOOD"], "exclude_skus": ["FOOD-9"]}
    assert Scope.from_json(stored) == scope


def test_one_coupon_per_order_and_exclusive_alone() -> None:
    a, b = coupon(code="A"), coupon(code="B")
    assert combination_refusal([a], 1) is None
    assert combination_refusal([a, b], 1) == Refusal.too_many_coupons
    assert combination_refusal([a, b], 2) is None
    assert combination_refusal([a, replace(b, exclusive=True)], 2) == Refusal.exclusive
    assert combination_refusal([replace(a, exclusive=True)], 1) is None
    assert combination_refusal([a, a], 2) == Refusal.repeated


def test_best_is_the_largest_discount_then_the_first_to_expire() -> None:
    soon = coupon(code="SOON", valid_until=AT + timedelta(days=1))
    later = coupon(code="LATER", valid_until=AT + timedelta(days=9))
    big = coupon(code="BIG", valid_until=AT + timedelta(days=30))
    offers = [(later, Outcome(500)), (soon, Outcome(500)), (big, Outcome(400))]
    assert best(offers) == soon
    assert best([*offers, (big, Outcome(600))]) == big
    assert best([(soon, Outcome(refusal=Refusal.expired)), (later, Outcome(0))]) is None


# --- properties -------------------------------------------------------------------------------

skus = st.sampled_from(["A", "B", "C", "GIFT", "SHIPPING"])
categories = st.sampled_from([None, "FOOD", "TOYS", "MILK"])


@st.composite
def lines_(draw: st.DrawFn) -> Line:
    quantity = draw(st.integers(1, 5))
    unit_price = draw(st.integers(0, 100_000))
    amount = draw(st.integers(0, quantity * unit_price))
    return Line(draw(skus), draw(categories), quantity, unit_price, amount)


scopes = st.builds(
    Scope,
    category_codes=st.frozensets(categories.filter(bool), max_size=2),  # type: ignore[arg-type]
    exclude_category_codes=st.frozensets(categories.filter(bool), max_size=1),  # type: ignore[arg-type]
    skus=st.frozensets(skus, max_size=2),
    exclude_skus=st.frozensets(skus, max_size=1),
)


@st.composite
def terms_(draw: st.DrawFn) -> CouponTerms:
    return coupon(
        draw(st.sampled_from(list(CouponType))),
        threshold=draw(st.integers(0, 200_000)),
        amount=draw(st.none() | st.integers(1, 50_000)),
        percent_off=draw(st.integers(1, 99)),
        max_discount=draw(st.none() | st.integers(1, 50_000)),
        gift_sku="GIFT",
        scope=draw(scopes),
    )


order_lines = st.lists(lines_(), max_size=6)


def in_scope_amount(terms: CouponTerms, lines: list[Line]) -> int:
    if terms.type == CouponType.shipping:
        return sum(ln.amount for ln in lines if ln.sku == "SHIPPING")
    return sum(ln.amount for ln in lines if ln.sku != "SHIPPING" and terms.scope.takes_line(ln))


@given(terms_(), order_lines)
def test_the_discount_is_never_negative_nor_above_the_in_scope_amount(
    terms: CouponTerms, lines: list[Line]
) -> None:
    outcome = evaluate(terms, lines, CONTEXT)
    assert 0 <= outcome.discount <= in_scope_amount(terms, lines)
    assert outcome.applies or outcome.discount == 0


@given(terms_(), order_lines)
def test_percent_off_respects_its_rate_and_cap(terms: CouponTerms, lines: list[Line]) -> None:
    terms = replace(terms, type=CouponType.percent_off)
    outcome = evaluate(terms, lines, CONTEXT)
    assert outcome.discount * 100 <= in_scope_amount(terms, lines) * (terms.percent_off or 0)
    if terms.max_discount is not None:
        assert outcome.discount <= terms.max_discount


@given(terms_(), order_lines, st.lists(lines_(), min_size=1, max_size=3))
def test_out_of_scope_lines_never_change_the_outcome(
    terms: CouponTerms, lines: list[Line], others: list[Line]
) -> None:
    terms = replace(terms, scope=replace(terms.scope, exclude_category_codes=frozenset({"X"})))
    terms = replace(
        terms, type=CouponType.gift if terms.type == CouponType.shipping else terms.type
    )
    outside = [replace(ln, category_code="X", sku=f"X-{n}") for n, ln in enumerate(others)]
    assert evaluate(terms, lines + outside, CONTEXT) == evaluate(terms, lines, CONTEXT)


@given(terms_(), order_lines, lines_())
def test_cash_off_never_gives_less_for_more_spend(
    terms: CouponTerms, lines: list[Line], more: Line
) -> None:
    terms = replace(terms, type=CouponType.cash_off, amount=terms.amount or 1)
    before = evaluate(terms, lines, CONTEXT)
    after = evaluate(terms, [*lines, more], CONTEXT)
    assert after.discount >= before.discount
    if before.applies:
        assert after.applies


@given(terms_(), order_lines, st.integers(0, 100_000))
def test_counting_back_what_was_taken_is_spending_it(
    terms: CouponTerms, lines: list[Line], taken: int
) -> None:
    """Judged after the fact with `taken`, a coupon sees what it saw before it was applied."""
    terms = replace(terms, type=CouponType.voucher)
    goods = [ln for ln in lines if ln.sku != "SHIPPING" and terms.scope.takes_line(ln)]
    if not goods:
        return
    first = lines.index(goods[0])
    applied, spent = list(lines), list(lines)
    applied[first] = replace(goods[0], discount=goods[0].discount + taken)
    spent[first] = replace(goods[0], amount=goods[0].amount + taken)
    assert evaluate(terms, applied, CONTEXT, taken=taken) == evaluate(terms, spent, CONTEXT)


@given(terms_(), order_lines, st.integers(0, 100_000))
def test_a_discount_taken_out_of_scope_changes_nothing(
    terms: CouponTerms, lines: list[Line], taken: int
) -> None:
    """Counted back, a discount on lines outside the coupon's scope gives it nothing more."""
    outside = [ln for ln in lines if not terms.scope.takes_line(ln) and ln.sku != "SHIPPING"]
    if not outside:
        return
    first = lines.index(outside[0])
    applied = list(lines)
    applied[first] = replace(outside[0], discount=outside[0].discount + taken)
    assert evaluate(terms, applied, CONTEXT, taken=taken) == evaluate(terms, lines, CONTEXT)


@given(st.lists(st.tuples(st.integers(0, 10), st.integers(0, 5)), min_size=1, max_size=6))
def test_best_gives_the_largest_discount(pairs: list[tuple[int, int]]) -> None:
    offers = [
        (coupon(code=f"C{n}", valid_until=AT + timedelta(days=days)), Outcome(discount))
        for n, (discount, days) in enumerate(pairs)
    ]
    chosen = best(offers)
    top = max(discount for discount, _ in pairs)
    if top == 0:
        assert chosen is None
    else:
        assert chosen is not None
        assert dict((c.code, o.discount) for c, o in offers)[chosen.code] == top
