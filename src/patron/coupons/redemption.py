"""Coupons used on orders: the preview of what codes give, their redemption in the order's
transaction, and their return when the order is refunded in full.

An order arrives with its discounts applied: each line's `discount` already holds its share of
the coupons, so a coupon is judged on the lines' paid amounts plus the amount it claims (see
`evaluator.evaluate`'s `taken`), and the coupons together claim no more than the lines'
discounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, literal, or_, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.catalog import service as catalog
from patron.core import clock, events
from patron.core.actor import SYSTEM, Actor
from patron.core.errors import PatronError
from patron.core.settings import get_settings
from patron.core.statements import Prepared
from patron.coupons.errors import CouponNotApplicable, CouponUnavailable
from patron.coupons.evaluator import (
    USABLE,
    Context,
    CouponTerms,
    Line,
    Outcome,
    Refusal,
    Scope,
    combination_refusal,
    evaluate,
    unavailable,
)
from patron.coupons.events import COUPON_REDEEMED, CouponRedeemed
from patron.coupons.models import (
    Coupon,
    CouponEvent,
    CouponEventKind,
    CouponStatus,
    CouponTemplate,
    CouponType,
    ReturnOnRefund,
)
from patron.orders.events import ORDER_REFUNDED, OrderRefunded


def refusal_error(code: str, reason: Refusal, detail: str = "") -> PatronError:
    """The problem an order gets for a refused coupon: it names the code and the reason."""
    kind = CouponUnavailable if reason.unavailable else CouponNotApplicable
    return kind(f"coupon {code}: {detail or reason.value}", coupon=code, reason=reason.value)


@dataclass(frozen=True)
class Held:
    """A coupon as stored, with its terms for the evaluator."""

    id: int
    terms: CouponTerms


HELD_COLUMNS = (
    Coupon.id,
    Coupon.code,
    Coupon.member_id,
    Coupon.status,
    Coupon.valid_from,
    Coupon.valid_until,
    CouponTemplate.type,
    CouponTemplate.threshold,
    CouponTemplate.amount,
    CouponTemplate.percent_off,
    CouponTemplate.max_discount,
    CouponTemplate.gift_sku,
    CouponTemplate.scope,
    CouponTemplate.stacks_with_tier_discount,
    CouponTemplate.stacks_with_points,
    CouponTemplate.exclusive,
)
HELD_NAMES = tuple(column.key for column in HELD_COLUMNS)


def held(session: Session, codes: Sequence[str]) -> dict[str, Held]:
    """The coupons with these codes, with their templates' terms: one query (prepared: it runs
    on the order path)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    params = {f"code_{n}": code for n, code in enumerate(wanted)}
    found = {}
    for row in _held_rows(session, _held_statement(len(wanted)).rows(session, params)):
        values = dict(zip(HELD_NAMES, row, strict=True))
        coupon_id, scope = values.pop("id"), values.pop("scope")
        values["type"] = CouponType(values["type"])
        values["status"] = CouponStatus(values["status"])
        terms = CouponTerms(**values, scope=Scope.from_json(scope or {}))
        found[terms.code] = Held(coupon_id, terms)
    return found


@cache
def _held_statement(count: int) -> Prepared:
    codes = [bindparam(f"code_{n}", type_=String()) for n in range(count)]
    query = select(*HELD_COLUMNS).join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
    return Prepared(lambda _: query.where(Coupon.code.in_(codes)))


def _held_rows(session: Session, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The driver's rows as SQLAlchemy would give them (times, JSON and booleans read back)."""
    dialect = session.get_bind().dialect
    readers = _READERS.get(dialect.name)
    if readers is None:
        readers = _READERS[dialect.name] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in HELD_COLUMNS
        ]
    return [
        tuple(
            value if read is None else read(value) for read, value in zip(readers, row, strict=True)
        )
        for row in rows
    ]


_READERS: dict[str, list[Any]] = {}


def with_catalog_categories(session: Session, lines: Sequence[Line]) -> list[Line]:
    """The lines with their products' categories as the catalog has them (which is what the
    order's lines record); a sku the catalog lacks keeps the category the caller gave."""
    products = catalog.products_by_sku(session, sorted({ln.sku for ln in lines}))
    codes = catalog.category_codes(session, (p.category_id for p in products.values()))
    return [
        replace(ln, category_code=codes.get(products[ln.sku].category_id or 0))
        if ln.sku in products
        else ln
        for ln in lines
    ]


def context(
    member_id: int | None,
    store_id: int,
    channel: str,
    at: datetime,
    *,
    points_pay: bool = False,
    tier_discount: bool = False,
) -> Context:
    return Context(
        member_id,
        store_id,
        channel,
        at,
        points_pay=points_pay,
        tier_discount=tier_discount,
        shipping_sku=get_settings().coupon_shipping_sku,
    )


# --- preview ----------------------------------------------------------------------------------


def preview(
    session: Session, codes: Sequence[str], lines: Sequence[Line], where: Context
) -> dict[str, tuple[Held | None, Outcome]]:
    """What each code gives on these lines on its own, writing nothing; an unknown code is
    refused `unknown_coupon`."""
    found = held(session, codes)
    if any(h.terms.scope.by_category for h in found.values()):
        lines = with_catalog_categories(session, lines)
    result: dict[str, tuple[Held | None, Outcome]] = {}
    for code in codes:
        coupon = found.get(code)
        if coupon is None:
            result[code] = (None, Outcome(refusal=Refusal.unknown_coupon))
        else:
            result[code] = (coupon, evaluate(coupon.terms, lines, where))
    return result


# --- redemption -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A coupon an order says it used, and the fen it took off."""

    code: str
    amount: int


@dataclass(frozen=True)
class Redemption:
    coupon_id: int
    code: str
    member_id: int
    discount: int


def check_claims(
    session: Session,
    claims: Sequence[Claim],
    lines: Sequence[Line],
    where: Context,
    line_discounts: int,
) -> list[Redemption]:
    """The coupons an order claims, checked against its lines (whose amounts are after the
    coupons) before anything is written; the first refusal raises. Writes nothing."""
    found = held(session, [c.code for c in claims])
    for claim in claims:
        if claim.code not in found:
            raise refusal_error(claim.code, Refusal.unknown_coupon)
        refusal = unavailable(found[claim.code].terms, where.member_id, where.at)
        if refusal is not None:
            raise refusal_error(claim.code, refusal)
    terms = [found[c.code].terms for c in claims]
    refusal = combination_refusal(terms, get_settings().coupons_per_order)
    if refusal is not None:
        raise refusal_error(claims[-1].code, refusal)
    claimed = sum(c.amount for c in claims)
    if claimed > line_discounts:
        raise refusal_error(
            claims[0].code,
            Refusal.amount_exceeds_discounts,
            f"coupons take {claimed} off, the lines' discounts are {line_discounts}",
        )
    if any(t.scope.by_category for t in terms):
        lines = with_catalog_categories(session, lines)
    return [_checked(found[c.code], c, lines, where, claimed) for c in claims]


def _checked(
    coupon: Held, claim: Claim, lines: Sequence[Line], where: Context, claimed: int
) -> Redemption:
    """One claim judged on the order as it was before its coupons (all of them: several
    coupons on one order each apply to the amount before any)."""
    outcome = evaluate(coupon.terms, lines, where, taken=claimed)
    if outcome.refusal is not None:
        raise refusal_error(claim.code, outcome.refusal)
    if claim.amount > outcome.discount:
        raise refusal_error(
            claim.code,
            Refusal.amount_too_large,
            f"takes {claim.amount} off, the coupon gives at most {outcome.discount}",
        )
    whole = coupon.terms.type in (CouponType.cash_off, CouponType.voucher)
    if whole and claim.amount != outcome.discount:
        raise refusal_error(
            claim.code,
            Refusal.amount_mismatch,
            f"takes {claim.amount} off, the coupon gives {outcome.discount}",
        )
    return Redemption(coupon.id, claim.code, coupon.terms.member_id, claim.amount)


COUPONS = cast(Table, Coupon.__table__)
EVENTS = cast(Table, CouponEvent.__table__)


def redeem(
    session: Session,
    actor: Actor,
    redemptions: Sequence[Redemption],
    order_id: int,
    store_id: int,
    occurred_at: datetime,
) -> None:
    """Mark checked coupons redeemed with their order, in the order's transaction. The update
    takes a coupon only while it is still usable by its member at the order's moment, so of
    concurrent orders carrying one coupon exactly one takes it; the others are refused and roll
    back."""
    at = clock.now()
    for redemption in sorted(redemptions, key=lambda r: r.coupon_id):  # one lock order
        values = {
            "c_id": redemption.coupon_id,
            "c_member": redemption.member_id,
            "c_order": order_id,
            "c_store": store_id,
            "c_discount": redemption.discount,
            "c_at": at,
            "c_operator": actor.name,
            "c_occurred": occurred_at,
        }
        entry = audit.entry_values(
            actor,
            "coupon.redeem",
            "coupon",
            redemption.coupon_id,
            store_id=store_id,
            after={"code": redemption.code, "order_id": order_id, "discount": redemption.discount},
        )
        if not _take(session, values, entry):
            raise refusal_error(redemption.code, _why_not_taken(session, redemption, occurred_at))
        payload = CouponRedeemed(
            coupon_id=redemption.coupon_id,
            member_id=redemption.member_id,
            order_id=order_id,
            store_id=store_id,
            discount=redemption.discount,
            occurred_at=at,
        )
        events.publish(session, COUPON_REDEEMED, redemption.coupon_id, payload)


def _take(session: Session, values: dict[str, Any], entry: dict[str, Any]) -> bool:
    """The conditional update, its history row and audit entry: one statement on PostgreSQL,
    three on SQLite. Whether the coupon was taken."""
    if session.get_bind().dialect.name == "postgresql":
        return bool(TAKE_WITH_HISTORY.rows(session, values | audit.entry_parameters(entry)))
    if not TAKE.rows(session, values):
        return False
    REDEEM_EVENT.run(session, values)
    audit.record_many(session, [entry])
    return True


def _take_statement() -> Any:
    """UPDATE of a coupon to redeemed, while it is still available to its member."""
    return (
        update(COUPONS)
        .where(
            COUPONS.c.id == bindparam("c_id"),
            COUPONS.c.member_id == bindparam("c_member"),
            or_(*(COUPONS.c.status == status for status in USABLE)),
            COUPONS.c.valid_until >= bindparam("c_occurred", type_=COUPONS.c.valid_until.type),
        )
        .values(
            status=CouponStatus.redeemed.value,
            order_id=bindparam("c_order"),
            discount=bindparam("c_discount"),
            redeemed_at=bindparam("c_at"),
            redeemed_store_id=bindparam("c_store"),
        )
        .returning(COUPONS.c.id)
    )


def _take_with_history() -> Any:
    taken = _take_statement().cte("taken")
    history = _redeem_event(taken.c.id).cte("history")
    trail = audit.entry_insert(taken.c.id).cte("trail")
    return select(taken.c.id).add_cte(history, trail)


def _redeem_event(coupon_id: Any) -> Any:
    columns = ["coupon_id", "kind", "from_member_id", "order_id", "operator", "reason"]
    row = select(
        coupon_id,
        literal(CouponEventKind.redeem.value),
        cast_(bindparam("c_member"), EVENTS.c.from_member_id.type),
        cast_(bindparam("c_order"), EVENTS.c.order_id.type),
        cast_(bindparam("c_operator"), EVENTS.c.operator.type),
        literal(""),
        bindparam("c_at", type_=EVENTS.c.created_at.type),
    )
    return EVENTS.insert().from_select([*columns, "created_at"], row)


TAKE = Prepared(lambda _: _take_statement())
TAKE_WITH_HISTORY = Prepared(lambda _: _take_with_history())
REDEEM_EVENT = Prepared(lambda _: _redeem_event(cast_(bindparam("c_id"), COUPONS.c.id.type)))


def _why_not_taken(session: Session, redemption: Redemption, occurred_at: datetime) -> Refusal:
    """Another transaction got there first: what it did to the coupon."""
    coupon = held(session, [redemption.code]).get(redemption.code)
    if coupon is None:
        return Refusal.unknown_coupon
    return unavailable(coupon.terms, redemption.member_id, occurred_at) or Refusal.redeemed


# --- refunds ----------------------------------------------------------------------------------


def return_coupons(
    session: Session, order_id: int, refund_id: int, store_id: int | None = None
) -> list[Coupon]:
    """The order was refunded in full: each coupon redeemed on it whose template says
    `full_refund` is available again while still valid, else expired. The row forgets the
    order (it says what the coupon is now); its redeem and return events keep the order and
    the audit trail the discount."""
    coupons = list(
        session.scalars(
            select(Coupon)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(
                Coupon.order_id == order_id,
                Coupon.status == CouponStatus.redeemed.value,
                CouponTemplate.return_on_refund == ReturnOnRefund.full_refund.value,
            )
            .order_by(Coupon.id)
            .with_for_update(of=Coupon)
            # The redemption was a statement, not through these objects: a coupon already in
            # the session would otherwise keep what it said before, and the unit of work would
            # not write back an order_id it thinks is None already.
            .execution_options(populate_existing=True)
        )
    )
    now = clock.now()
    for coupon in coupons:
        before = {"status": coupon.status, "order_id": order_id, "discount": coupon.discount}
        valid = now <= coupon.valid_until
        coupon.status = (CouponStatus.available if valid else CouponStatus.expired).value
        coupon.order_id = coupon.discount = coupon.redeemed_at = coupon.redeemed_store_id = None
        session.add(
            CouponEvent(
                coupon_id=coupon.id,
                kind=CouponEventKind.return_.value,
                to_member_id=coupon.member_id,
                order_id=order_id,
                refund_id=refund_id,
                operator="system",
                reason="order refunded in full" + ("" if valid else "; expired"),
                created_at=now,
            )
        )
        audit.record(
            session,
            SYSTEM,
            "coupon.return",
            "coupon",
            coupon.id,
            store_id=store_id,
            before=before,
            after={"status": coupon.status},
        )
    session.flush()
    return coupons


@ORDER_REFUNDED.subscribers.register("coupons.return")
def _return_on_refund(session: Session, event: events.Event[OrderRefunded]) -> None:
    refund = event.payload
    if refund.fully_refunded and refund.member_id is not None:
        return_coupons(session, refund.order_id, refund.refund_id, refund.store_id)
