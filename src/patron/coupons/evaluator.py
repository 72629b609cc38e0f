"""What a coupon gives on an order: a pure function of the coupon's terms, the order's lines and
its context, with no session and no I/O. The evaluate preview, order intake and (later) checkout
all ask it, so a coupon means the same everywhere.

Amounts are fen. A line's `amount` is what it costs before coupons (after any tier discount).
Delivery is a line like the goods, named by the `coupon_shipping_sku` setting ("SHIPPING"): a
shipping coupon takes up to its `amount` off the delivery lines, and those lines never count
toward any coupon's goods (threshold, percent, in-scope amount)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from patron.coupons.models import CouponStatus, CouponType

DEFAULT_SHIPPING_SKU = "SHIPPING"


class Refusal(StrEnum):
    """Why a coupon gives nothing here; stable codes that integrators match on."""

    # unavailable: the coupon itself cannot be used now (409 on an order)
    unknown_coupon = "unknown_coupon"
    redeemed = "redeemed"
    expired = "expired"
    void = "void"
    not_yet_valid = "not_yet_valid"
    other_member = "other_member"
    no_member = "no_member"  # the order has no member, and coupons belong to members
    # not applicable: the coupon is fine, this order does not qualify (422 on an order)
    store_not_in_scope = "store_not_in_scope"
    channel_not_in_scope = "channel_not_in_scope"
    out_of_scope = "out_of_scope"  # no line of the order is in the coupon's scope
    below_threshold = "below_threshold"
    gift_not_on_order = "gift_not_on_order"
    no_delivery = "no_delivery"
    not_with_tier_discount = "not_with_tier_discount"
    not_with_points = "not_with_points"
    exclusive = "exclusive"  # an exclusive coupon shares the order with another
    too_many_coupons = "too_many_coupons"
    repeated = "repeated"  # the same code twice on one order
    amount_too_large = "amount_too_large"  # an order claims more than the coupon gives
    amount_mismatch = "amount_mismatch"  # cash_off and voucher are taken whole, never in part
    amount_exceeds_discounts = "amount_exceeds_discounts"  # more than the lines' discounts

    @property
    def unavailable(self) -> bool:
        return self in UNAVAILABLE


# A coupon in these states may be used at a moment within its validity (an expired one: by an
# order made before it expired).
USABLE = (CouponStatus.available.value, CouponStatus.expired.value)
UNAVAILABLE = frozenset(
    {
        Refusal.unknown_coupon,
        Refusal.redeemed,
        Refusal.expired,
        Refusal.void,
        Refusal.not_yet_valid,
        Refusal.other_member,
        Refusal.no_member,
    }
)


@dataclass(frozen=True)
class Scope:
    """Where a coupon applies. An empty include list means all. A line is in scope when its
    category or its sku is included (either list, when both are given) and neither is
    excluded; categories match by code exactly."""

    store_ids: frozenset[int] = frozenset()
    exclude_store_ids: frozenset[int] = frozenset()
    channels: frozenset[str] = frozenset()
    exclude_channels: frozenset[str] = frozenset()
    category_codes: frozenset[str] = frozenset()
    exclude_category_codes: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    exclude_skus: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, scope: Mapping[str, Any]) -> Scope:
        """The scope as a template stores it (lists under the field names)."""
        return cls(**{name: frozenset(scope.get(name) or ()) for name in SCOPE_FIELDS})

    def takes_store(self, store_id: int) -> bool:
        return _included(store_id, self.store_ids, self.exclude_store_ids)

    def takes_channel(self, channel: str) -> bool:
        return _included(channel, self.channels, self.exclude_channels)

    def takes_line(self, line: Line) -> bool:
        if line.sku in self.exclude_skus or line.category_code in self.exclude_category_codes:
            return False
        if not self.category_codes and not self.skus:
            return True
        return line.sku in self.skus or line.category_code in self.category_codes

    @property
    def by_category(self) -> bool:
        return bool(self.category_codes or self.exclude_category_codes)


SCOPE_FIELDS = tuple(Scope.__dataclass_fields__)


def _included(value: object, include: Collection[object], exclude: Collection[object]) -> bool:
    return value not in exclude and (not include or value in include)


@dataclass(frozen=True)
class CouponTerms:
    """One coupon as the evaluator sees it: its template's value and rules, and its own state."""

    code: str
    type: CouponType
    member_id: int
    status: CouponStatus
    valid_from: datetime
    valid_until: datetime  # inclusive: a day's validity ends at 23:59:59
    threshold: int = 0
    amount: int | None = None
    percent_off: int | None = None
    max_discount: int | None = None
    gift_sku: str | None = None
    scope: Scope = Scope()
    stacks_with_tier_discount: bool = True
    stacks_with_points: bool = True
    exclusive: bool = False


@dataclass(frozen=True)
class Line:
    sku: str
    category_code: str | None
    quantity: int
    unit_price: int
    amount: int  # before coupons (after them, on an order that arrives with them applied)
    discount: int = 0  # on such an order, the line's discount, coupons' shares included
    tier_discounted: bool = False  # the member's tier discount or member price is on this line


@dataclass(frozen=True)
class Context:
    member_id: int | None
    store_id: int
    channel: str
    at: datetime
    points_pay: bool = False  # points pay part of the order
    # A tier discount or member price is applied, the order not saying on which lines (those
    # that say so mark them `tier_discounted`).
    tier_discount: bool = False
    shipping_sku: str = DEFAULT_SHIPPING_SKU


@dataclass(frozen=True)
class Outcome:
    """The discount a coupon gives, or why it gives none."""

    discount: int = 0
    refusal: Refusal | None = None

    @property
    def applies(self) -> bool:
        return self.refusal is None


def refused(reason: Refusal) -> Outcome:
    return Outcome(refusal=reason)


def evaluate(
    coupon: CouponTerms, lines: Sequence[Line], context: Context, taken: int = 0
) -> Outcome:
    """What `coupon` gives on `lines`. `taken` is what the order's coupons already took off these
    lines (an order that arrives with its discounts applied): it is counted back into the amount
    the coupon works on, so that the coupon is judged on the order as it was before coupons, but
    never more of it than the discounts its own lines carry: a discount taken off a line outside
    its scope does not make the coupon's lines worth more."""
    refusal = unavailable(coupon, context.member_id, context.at) or _not_applicable(coupon, context)
    if refusal is not None:
        return refused(refusal)
    if coupon.type == CouponType.shipping:
        return _shipping(coupon, lines, context, taken)
    goods = [ln for ln in lines if ln.sku != context.shipping_sku and coupon.scope.takes_line(ln)]
    if not goods:
        return refused(_gift_missing(coupon, lines) or Refusal.out_of_scope)
    if _on_tier_discount(coupon, goods):
        return refused(Refusal.not_with_tier_discount)
    in_scope = _before_coupons(goods, taken)
    if in_scope < coupon.threshold:
        return refused(Refusal.below_threshold)
    if coupon.type == CouponType.percent_off:
        discount = in_scope * (coupon.percent_off or 0) // 100
        if coupon.max_discount is not None:
            discount = min(discount, coupon.max_discount)
    elif coupon.type == CouponType.gift:
        gift = [ln for ln in goods if ln.sku == coupon.gift_sku]
        if not gift:
            return refused(_gift_missing(coupon, lines) or Refusal.out_of_scope)
        discount = min(max(ln.unit_price for ln in gift), _before_coupons(gift, taken))
    else:  # cash_off, voucher
        discount = coupon.amount or 0
    return Outcome(discount=max(0, min(discount, in_scope)))


def _on_tier_discount(coupon: CouponTerms, lines: Iterable[Line]) -> bool:
    """A coupon that does not stack with the tier discount, on lines that carry one."""
    return not coupon.stacks_with_tier_discount and any(ln.tier_discounted for ln in lines)


def _before_coupons(lines: Iterable[Line], taken: int) -> int:
    return sum(ln.amount for ln in lines) + min(taken, sum(ln.discount for ln in lines))


def unavailable(coupon: CouponTerms, member_id: int | None, at: datetime) -> Refusal | None:
    """Why the coupon cannot be used by this member at this moment, whatever the order. Whose
    it is comes first, so that nothing is told about another member's coupon. A coupon the
    expiry job marked is still good for an order made while it was valid (a till that was
    offline sends it later)."""
    if member_id is None:
        return Refusal.no_member
    if coupon.member_id != member_id:
        return Refusal.other_member
    if coupon.status == CouponStatus.redeemed:
        return Refusal.redeemed
    if coupon.status == CouponStatus.void:
        return Refusal.void
    if at < coupon.valid_from:
        return Refusal.not_yet_valid
    if at > coupon.valid_until:
        return Refusal.expired
    return None


def _not_applicable(coupon: CouponTerms, context: Context) -> Refusal | None:
    if not coupon.scope.takes_store(context.store_id):
        return Refusal.store_not_in_scope
    if not coupon.scope.takes_channel(context.channel):
        return Refusal.channel_not_in_scope
    if context.tier_discount and not coupon.stacks_with_tier_discount:
        return Refusal.not_with_tier_discount
    if context.points_pay and not coupon.stacks_with_points:
        return Refusal.not_with_points
    return None


def _gift_missing(coupon: CouponTerms, lines: Iterable[Line]) -> Refusal | None:
    if coupon.type == CouponType.gift and all(ln.sku != coupon.gift_sku for ln in lines):
        return Refusal.gift_not_on_order
    return None


def _shipping(coupon: CouponTerms, lines: Sequence[Line], context: Context, taken: int) -> Outcome:
    """Up to `amount` off the delivery lines; the threshold is met by the in-scope goods."""
    delivery = [ln for ln in lines if ln.sku == context.shipping_sku]
    if not delivery:
        return refused(Refusal.no_delivery)
    if _on_tier_discount(coupon, delivery):
        return refused(Refusal.not_with_tier_discount)
    goods = sum(
        ln.amount for ln in lines if ln.sku != context.shipping_sku and coupon.scope.takes_line(ln)
    )
    if goods < coupon.threshold:
        return refused(Refusal.below_threshold)
    fee = _before_coupons(delivery, taken)
    return Outcome(discount=min(coupon.amount or 0, fee))


# --- several coupons --------------------------------------------------------------------------


def combination_refusal(coupons: Sequence[CouponTerms], per_order: int) -> Refusal | None:
    """Whether these coupons may share one order: at most `per_order` of them, none twice, and
    an exclusive one alone."""
    if len({c.code for c in coupons}) < len(coupons):
        return Refusal.repeated
    if len(coupons) > 1 and any(c.exclusive for c in coupons):
        return Refusal.exclusive
    if len(coupons) > per_order:
        return Refusal.too_many_coupons
    return None


def best(offers: Iterable[tuple[CouponTerms, Outcome]]) -> CouponTerms | None:
    """The coupon worth using: the largest discount, then the one that expires first (keep the
    longer-lived for later), then the code; None when none applies."""
    usable = [(c, o) for c, o in offers if o.applies and o.discount > 0]
    if not usable:
        return None
    return min(usable, key=lambda pair: (-pair[1].discount, pair[0].valid_until, pair[0].code))[0]
