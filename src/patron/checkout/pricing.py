"""Pricing a basket, a pure function of its lines and what the member holds: list price →
member price or tier discount → coupons → points as cash → stored value → what is left to pay
by external payment. Every discount and tender is allocated to the lines to the fen (largest
remainder), since refunds and earnings are per line.

A coupon that does not stack with the tier discount takes the tier discount off the lines in its
scope only; the other lines keep it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from patron.core.errors import InvalidInput
from patron.core.money import MAX_FEN, allocate
from patron.core.reasons import Reason
from patron.coupons.evaluator import (
    Context,
    CouponTerms,
    Line,
    Outcome,
    Refusal,
    combination_refusal,
    evaluate,
)
from patron.coupons.models import CouponType
from patron.points import cash
from patron.points.errors import InsufficientPoints
from patron.stored_value.errors import InsufficientBalance
from patron.stored_value.ledger import split

Wanted = int | Literal["max"]


@dataclass(frozen=True)
class BasketLine:
    sku: str
    name: str
    category_code: str | None  # the catalog's for a sku it knows, else the POS's
    quantity: int
    unit_price: int
    member_price: int | None = None
    product_id: int | None = None  # the catalog's, when it knows the sku
    category_id: int | None = None

    @property
    def list_amount(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Holdings:
    """What pricing reads of the member, the programs and the coupons in play."""

    member_id: int | None
    context: Context  # store, channel, moment; points_pay as the request wants points
    discount_percent: int = 0  # the member's tier discount; 0 for none
    member_price: bool = False  # member prices: with a tier discount (the order records both)
    coupons: Sequence[CouponTerms] = ()  # in the order asked, or the member's for "auto"
    auto: bool = False
    coupons_per_order: int = 1
    cash: cash.CashTerms = field(default_factory=cash.CashTerms)
    points_available: int = 0
    principal: int = 0
    bonus: int = 0
    principal_first: bool = False


@dataclass(frozen=True)
class PricedLine:
    line: BasketLine
    tier_discount: int
    coupon_discount: int
    points: int
    points_discount: int
    stored_value: int

    @property
    def paid(self) -> int:
        return self.line.list_amount - self.tier_discount - self.coupon_discount

    @property
    def amount_due(self) -> int:
        return self.paid - self.points_discount - self.stored_value


@dataclass(frozen=True)
class Offer:
    code: str
    applied: bool
    discount: int
    refusal: Refusal | None


@dataclass(frozen=True)
class Priced:
    lines: list[PricedLine]
    offers: list[Offer]
    principal: int  # of the stored value used
    bonus: int

    def total(self, name: str) -> int:
        return sum(int(getattr(line, name)) for line in self.lines)

    @property
    def coupons(self) -> list[tuple[str, int]]:
        """(code, discount) of the coupons applied."""
        return [(o.code, o.discount) for o in self.offers if o.applied]


def price(lines: Sequence[BasketLine], held: Holdings, points: Wanted, stored: Wanted) -> Priced:
    offers, applied = _choose_coupons(lines, held)
    excluded = _not_stacking_lines(lines, [c for c, _ in applied], held.context.shipping_sku)
    tier = _tier_discounts(lines, held, excluded)
    amounts = [ln.list_amount - t for ln, t in zip(lines, tier, strict=True)]
    final = [(c, _evaluate(c, lines, amounts, held.context)) for c, _ in applied]
    coupon, granted = _allocate_coupons(lines, amounts, final, held.context.shipping_sku)
    paid = [a - c for a, c in zip(amounts, coupon, strict=True)]
    _check_total(sum(paid))
    offers = [_granted(o, granted) for o in offers]
    drawn = _points(lines, paid, held, points, with_coupons=bool(granted))
    points_fen = [held.cash.fen_of(p) for p in drawn]
    left = [p - f for p, f in zip(paid, points_fen, strict=True)]
    used = _stored_value(sum(left), held, stored)
    from_sv = allocate(used, left) if used else [0] * len(lines)
    principal, bonus = (
        split(used, held.principal, held.bonus, principal_first=held.principal_first)
        if used
        else (0, 0)
    )
    priced = [
        PricedLine(ln, t, c, p, f, s)
        for ln, t, c, p, f, s in zip(lines, tier, coupon, drawn, points_fen, from_sv, strict=True)
    ]
    return Priced(priced, offers, principal, bonus)


# --- tier discount and member price -----------------------------------------------------------


def _tier_discounts(
    lines: Sequence[BasketLine], held: Holdings, excluded: frozenset[int]
) -> list[int]:
    """Member price where the line has one, else the tier's percent of the lines that may take
    it, rounded down for the order and allocated over them."""
    found = [0] * len(lines)
    if held.member_id is None:
        return found
    by_percent = []
    for i, line in enumerate(lines):
        if i in excluded:
            continue
        if held.member_price and line.member_price is not None:
            found[i] = (line.unit_price - line.member_price) * line.quantity
        elif held.discount_percent:
            by_percent.append(i)
    weights = [lines[i].list_amount for i in by_percent]
    total = sum(weights) * held.discount_percent // 100
    for i, part in zip(by_percent, allocate(total, weights) if total else [], strict=False):
        found[i] = part
    return found


def _not_stacking_lines(
    lines: Sequence[BasketLine], coupons: Sequence[CouponTerms], shipping: str
) -> frozenset[int]:
    """The lines in the scope of a coupon that does not stack with the tier discount."""
    return frozenset(
        i for c in coupons if not c.stacks_with_tier_discount for i in _scope(c, lines, shipping)
    )


# --- coupons ----------------------------------------------------------------------------------


def _evaluate(
    coupon: CouponTerms, lines: Sequence[BasketLine], amounts: Sequence[int], where: Context
) -> Outcome:
    return evaluate(coupon, _coupon_lines(lines, amounts), where)


def _coupon_lines(lines: Sequence[BasketLine], amounts: Sequence[int]) -> list[Line]:
    return [
        Line(ln.sku, ln.category_code, ln.quantity, ln.unit_price, amount)
        for ln, amount in zip(lines, amounts, strict=True)
    ]


def _alone(coupon: CouponTerms, lines: Sequence[BasketLine], held: Holdings) -> Outcome:
    """What the coupon gives as the order's only coupon (its scope without tier discount when it
    does not stack with it)."""
    excluded = _not_stacking_lines(lines, [coupon], held.context.shipping_sku)
    tier = _tier_discounts(lines, held, excluded)
    amounts = [ln.list_amount - t for ln, t in zip(lines, tier, strict=True)]
    return _evaluate(coupon, lines, amounts, held.context)


def _choose_coupons(
    lines: Sequence[BasketLine], held: Holdings
) -> tuple[list[Offer], list[tuple[CouponTerms, Outcome]]]:
    """Each coupon's offer, and the coupons applied: with "auto" the best one; else those asked,
    in order, while they may share the order."""
    outcomes = [(c, _alone(c, lines, held)) for c in held.coupons]
    usable = [(c, o) for c, o in outcomes if o.applies and o.discount > 0]
    applied: list[tuple[CouponTerms, Outcome]] = []
    if held.auto:
        if usable:
            applied = [min(usable, key=lambda p: (-p[1].discount, p[0].valid_until, p[0].code))]
    else:
        for coupon, outcome in usable:
            terms = [c for c, _ in applied] + [coupon]
            if combination_refusal(terms, held.coupons_per_order) is None:
                applied.append((coupon, outcome))
    chosen = {c.code for c, _ in applied}
    offers = []
    for coupon, outcome in outcomes:
        refusal = outcome.refusal
        if refusal is None and coupon.code not in chosen and not held.auto:
            refusal = combination_refusal(
                [c for c, _ in applied] + [coupon], held.coupons_per_order
            )
        offers.append(Offer(coupon.code, coupon.code in chosen, outcome.discount, refusal))
    return offers, applied


def _scope(coupon: CouponTerms, lines: Sequence[BasketLine], shipping: str) -> list[int]:
    """The lines a coupon's discount is taken off: delivery for a shipping coupon, the gift's
    lines for a gift, else the goods in its scope."""
    as_lines = _coupon_lines(lines, [0] * len(lines))
    if coupon.type == CouponType.shipping:
        return [i for i, ln in enumerate(lines) if ln.sku == shipping]
    found = [
        i for i, ln in enumerate(as_lines) if ln.sku != shipping and coupon.scope.takes_line(ln)
    ]
    if coupon.type == CouponType.gift:
        return [i for i in found if lines[i].sku == coupon.gift_sku]
    return found


def _allocate_coupons(
    lines: Sequence[BasketLine],
    amounts: Sequence[int],
    applied: Sequence[tuple[CouponTerms, Outcome]],
    shipping: str,
) -> tuple[list[int], dict[str, int]]:
    """Each line's coupon discount, and what each coupon takes off. Coupons are judged on the
    order before any of them, so a later one may find its lines already paid for: it takes
    what is left, or, being a fixed amount (满减, 代金券) that must come off whole, nothing."""
    taken = [0] * len(lines)
    granted: dict[str, int] = {}
    for coupon, outcome in applied:
        scope = _scope(coupon, lines, shipping)
        weights = [amounts[i] - taken[i] for i in scope]
        discount = min(outcome.discount, sum(weights))
        whole = coupon.type in (CouponType.cash_off, CouponType.voucher)
        if not discount or (whole and discount < outcome.discount):
            continue
        granted[coupon.code] = discount
        for i, part in zip(scope, allocate(discount, weights), strict=True):
            taken[i] += part
    return taken, granted


def _granted(offer: Offer, granted: dict[str, int]) -> Offer:
    """The offer as the order takes it: a coupon left nothing to take off is not applied."""
    if not offer.applied:
        return offer
    if offer.code not in granted:
        return Offer(offer.code, False, offer.discount, Refusal.amount_exceeds_discounts)
    return Offer(offer.code, True, granted[offer.code], offer.refusal)


def _check_total(total: int) -> None:
    if total == 0:
        raise InvalidInput(
            "lines", "the order total is 0: an order sells something", code=Reason.order_total_zero
        )
    if total > MAX_FEN:
        raise InvalidInput(
            "lines", f"the order total exceeds {MAX_FEN} fen", code=Reason.order_total_too_large
        )


# --- tenders ----------------------------------------------------------------------------------


def _points(
    lines: Sequence[BasketLine],
    paid: Sequence[int],
    held: Holdings,
    wanted: Wanted,
    *,
    with_coupons: bool,
) -> list[int]:
    """Points per line: the most the policy and the balance allow for "max", else the number
    asked, checked."""
    pay_lines = [cash.PayLine(ln.category_code, p) for ln, p in zip(lines, paid, strict=True)]
    if wanted == "max":
        if held.member_id is None:
            return [0] * len(lines)
        points = cash.most(held.cash, pay_lines, held.points_available, with_coupons=with_coupons)
    else:
        points = wanted
        if points:
            if held.member_id is None:
                raise InvalidInput(
                    "points",
                    "points are the member's: give a member",
                    code=Reason.points_need_member,
                )
            cash.check(held.cash, pay_lines, points, with_coupons=with_coupons)
            if points > held.points_available:
                raise InsufficientPoints(
                    f"{held.points_available} points available, {points} asked",
                    available=held.points_available,
                )
    return cash.spread(held.cash, pay_lines, points)


def _stored_value(left: int, held: Holdings, wanted: Wanted) -> int:
    balance = held.principal + held.bonus
    if wanted == "max":
        return min(balance, left) if held.member_id is not None else 0
    if wanted and held.member_id is None:
        raise InvalidInput(
            "stored_value",
            "stored value is the member's: give a member",
            code=Reason.stored_value_needs_member,
        )
    if wanted > left:
        raise InvalidInput(
            "stored_value",
            f"{wanted} fen is more than the {left} left to pay",
            code=Reason.exceeds_amount_due,
        )
    if wanted > balance:
        raise InsufficientBalance(
            f"member {held.member_id} holds {balance} fen, not {wanted}", balance=balance
        )
    return wanted
