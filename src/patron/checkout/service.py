"""The checkout (收银): a quote prices a basket and keeps what it priced; its commit re-prices
it under the member's locks and, when nothing changed, records it as one order, whose intake
redeems the coupons, burns the points, debits stored value and earns points and growth in the
same transaction."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, Row, Table, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from patron.catalog import service as catalog
from patron.checkout.errors import QuoteExpired, QuoteNotFound, QuoteStale, QuoteUsed
from patron.checkout.models import CheckoutQuote, QuoteStatus
from patron.checkout.pricing import BasketLine, Holdings, Priced, price
from patron.checkout.schemas import (
    CommitRequest,
    CouponOfferOut,
    EarnOut,
    QuoteLineOut,
    QuoteOut,
    QuoteRequest,
    TierUpgradeOut,
)
from patron.core import clock, statements
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.settings import get_settings
from patron.core.statements import Prepared
from patron.coupons import codes as coupon_codes
from patron.coupons import holding, redemption
from patron.coupons.models import CouponStatus
from patron.members import codes as member_codes
from patron.members import registry
from patron.members.errors import MemberCodeInvalid
from patron.orders import service as orders
from patron.orders.models import PaymentMethod
from patron.orders.schemas import CouponClaimIn, OrderCreate, OrderItemIn, PaymentIn
from patron.points import accounts as points_accounts
from patron.points import cash, earning
from patron.points import queries as points_queries
from patron.points.rules import active_rules
from patron.stored_value import ledger as sv_ledger
from patron.stored_value import payments as sv_payments
from patron.stored_value import queries as sv_queries
from patron.tiers import benefits, growth, standing
from patron.tiers.ladder import base, earned, ladder
from patron.tiers.program import program

# "auto" looks at this many of the member's available coupons, newest first.
AUTO_COUPONS = 200
TENDERS = (PaymentMethod.points, PaymentMethod.stored_value)
QUOTES = cast(Table, CheckoutQuote.__table__)


# --- quote ------------------------------------------------------------------------------------


def quote(session: Session, actor: Actor, data: QuoteRequest) -> QuoteOut:
    """Price the basket and keep the quote; nothing else is written (but a stored-value
    verification given with it, which counts as at the till)."""
    orders.check_store(session, actor, data.store_id)
    member = _member(session, data)
    request = _kept_request(data, member)
    asked, priced = _price(session, request, member, locked=False)
    out = _quoted(session, asked, member, priced)
    verified = False
    if data.verification is not None and out.stored_value_used and member is not None:
        given = data.verification
        sv_payments.authorize(
            session,
            member.id,
            out.stored_value_used,
            sv_payments.Verification(given.member_code, given.password),
        )
        verified = True
    return _keep(session, actor, request, replace_out(out, verified=verified))


def get_quote(session: Session, actor: Actor, quote_id: str) -> QuoteOut:
    return present(_find(session, actor, quote_id))


@dataclass(frozen=True)
class Buyer:
    """The member buying, as pricing needs them."""

    id: int
    is_staff: bool


def _member(session: Session, data: QuoteRequest) -> Buyer | None:
    """The member the till named, by id or by the code their app shows (a member buys in any
    store of the chain)."""
    if data.member_code is not None:
        try:
            member = member_codes.resolve_code(session, data.member_code)
        except MemberCodeInvalid as exc:
            raise InvalidInput(
                "member_code", "unknown or expired member code", code=Reason.unknown_member
            ) from exc
        return Buyer(member.id, member.is_staff)
    return _active(session, data.member_id, "member_id")


def _active(session: Session, member_id: int | None, field: str) -> Buyer | None:
    if member_id is None:
        return None
    rows = STAFF.rows(session, {"member_id": member_id})
    staff = rows[0][0] if rows else None
    return _buyer(member_id, None if staff is None else bool(staff), field)


STAFF = Prepared(lambda _: select(registry.staff_flag(bindparam("member_id", type_=Integer()))))


def _buyer(member_id: int, is_staff: bool | None, field: str) -> Buyer:
    if is_staff is None:
        raise InvalidInput(field, f"no active member {member_id}", code=Reason.unknown_member)
    return Buyer(member_id, is_staff)


def _kept_request(data: QuoteRequest, member: Buyer | None) -> dict[str, Any]:
    """The request as the quote keeps it: the member by id (a member code expires), no secret."""
    kept = data.model_dump(mode="json", exclude={"member_code"})
    kept["member_id"] = member.id if member is not None else None
    return kept


def _keep(session: Session, actor: Actor, request: dict[str, Any], out: QuoteOut) -> QuoteOut:
    now = clock.now()
    out = replace_out(
        out,
        quote_id=secrets.token_urlsafe(18),
        expires_at=now + timedelta(seconds=get_settings().quote_ttl),
    )
    row = {
        "id": out.quote_id,
        "store_id": out.store_id,
        "member_id": out.member_id,
        "channel": out.channel.value,
        "request": request,
        "result": out.model_dump(mode="json"),
        "verified": out.verified,
        "status": QuoteStatus.open.value,
        "created_by": actor.name,
        "created_at": now,
        "expires_at": out.expires_at,
    }
    statements.insert_rows(session, QUOTES, [row])
    return out


def replace_out(out: QuoteOut, **changes: Any) -> QuoteOut:
    return out.model_copy(update=changes)


def present(record: Row[Any] | Kept) -> QuoteOut:
    out = QuoteOut.model_validate(record.result)
    return replace_out(out, status=record.status, order_id=record.order_id)


KEPT = ("id", "store_id", "member_id", "status", "order_id", "expires_at", "request", "result")


@dataclass(frozen=True)
class Kept:
    """A quote as its commit reads it, locked, with whether its member is (active) staff."""

    id: str
    store_id: int
    member_id: int | None
    status: str
    order_id: int | None
    expires_at: datetime
    request: dict[str, Any]
    result: dict[str, Any]
    is_staff: bool | None


def _find(session: Session, actor: Actor, quote_id: str) -> Row[Any]:
    query = select(*(QUOTES.c[name] for name in KEPT)).where(QUOTES.c.id == quote_id)
    record = session.execute(query).first()
    if record is None or not actor.sees_store(record.store_id):
        raise QuoteNotFound(f"no quote {quote_id}")
    return record


def _locked_statement(_: Session) -> ClauseElement:
    staff = registry.staff_flag(QUOTES.c.member_id).label("is_staff")
    query = select(*(QUOTES.c[name] for name in KEPT), staff)
    return query.where(QUOTES.c.id == bindparam("id")).with_for_update(of=QUOTES)


LOCK = Prepared(_locked_statement)
COMMITTED = Prepared(
    lambda _: (
        update(QUOTES)
        .where(QUOTES.c.id == bindparam("quote_id"))
        .values(status=bindparam("status"), order_id=bindparam("order_id"))
    )
)


def _lock(session: Session, actor: Actor, quote_id: str) -> Kept:
    """The quote, locked for its commit: one prepared statement, whose rows come back as the
    driver gives them (JSON text and naive times on SQLite)."""
    rows = LOCK.rows(session, {"id": quote_id})
    if not rows or not actor.sees_store(rows[0][1]):
        raise QuoteNotFound(f"no quote {quote_id}")
    qid, store_id, member_id, status, order_id, expires_at, request, result, staff = rows[0]
    return Kept(
        qid,
        store_id,
        member_id,
        status,
        order_id,
        _moment(expires_at),
        _document(request),
        _document(result),
        None if staff is None else bool(staff),
    )


def _moment(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _document(value: dict[str, Any] | str) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


# --- commit -----------------------------------------------------------------------------------

# What a commit finds unchanged, or the quote is stale: every amount of every line, the coupons
# used and the stored-value split (the totals are their sums). What the order earns is the
# order path's to compute; a category the catalog learned meanwhile matters only through the
# amounts.
Amounts = tuple[tuple[tuple[int, ...], ...], tuple[tuple[str, int], ...], int, int]


def _amounts(priced: Priced) -> Amounts:
    lines = tuple(
        (
            p.line.list_amount,
            p.tier_discount,
            p.coupon_discount,
            p.points,
            p.points_discount,
            p.stored_value,
        )
        for p in priced.lines
    )
    return lines, tuple(priced.coupons), priced.principal, priced.bonus


def _kept_amounts(kept: QuoteOut) -> Amounts:
    lines = tuple(
        (
            ln.list_amount,
            ln.tier_discount,
            ln.coupon_discount,
            ln.points,
            ln.points_discount,
            ln.stored_value,
        )
        for ln in kept.lines
    )
    coupons = tuple((c.code, c.discount) for c in kept.coupons if c.applied)
    return lines, coupons, kept.stored_value_principal, kept.stored_value_bonus


@dataclass(frozen=True)
class Committed:
    order: orders.TakenOrder
    quote: QuoteOut


def commit(session: Session, actor: Actor, data: CommitRequest) -> Committed:
    """Record the quoted basket as one order, re-priced under the member's locks first: 409
    quote_stale with the fresh quote (kept, nothing else written) when anything changed."""
    record = _lock(session, actor, data.quote_id)
    if record.status == QuoteStatus.committed.value:
        raise QuoteUsed(f"quote {record.id} made order {record.order_id}", order_id=record.order_id)
    if clock.now() >= record.expires_at:
        raise QuoteExpired(f"quote {record.id} expired at {record.expires_at.isoformat()}")
    kept = present(record)
    _check_payments(data, kept.amount_due)
    member = _buyer(record.member_id, record.is_staff, "quote_id") if record.member_id else None
    asked, fresh = _price(session, record.request, member, locked=True, for_earning=False)
    if _amounts(fresh) != _kept_amounts(kept):
        out = _keep(session, actor, record.request, _quoted(session, asked, member, fresh))
        raise QuoteStale(
            f"quote {record.id} no longer holds; quote {out.quote_id} does",
            quote=out.model_dump(mode="json"),
        )
    order = orders.create_order(session, actor, _order_of(kept, data), payer_proven=kept.verified)
    committed = {"status": QuoteStatus.committed.value, "order_id": order.id}
    COMMITTED.run(session, {"quote_id": record.id, **committed})
    return Committed(order, replace_out(kept, **committed))


def _check_payments(data: CommitRequest, amount_due: int) -> None:
    for index, payment in enumerate(data.payments):
        if payment.method in TENDERS:
            raise InvalidInput(
                f"payments.{index}.method",
                "points and stored value are the quote's: give the external payments",
                code=Reason.not_a_choice,
            )
    paid = sum(p.amount for p in data.payments)
    if paid != amount_due:
        raise InvalidInput(
            "payments",
            f"payments add up to {paid}, the quote's amount due is {amount_due}",
            code=Reason.payments_mismatch,
        )


def _order_of(kept: QuoteOut, data: CommitRequest) -> OrderCreate:
    """The order as intake takes it: each line's discounts and tenders, the external payments
    with the points and stored value the quote uses, and its coupons."""
    payments = list(data.payments)
    if kept.points_discount:
        payments.append(PaymentIn(method=PaymentMethod.points, amount=kept.points_discount))
    if kept.stored_value_used:
        payments.append(
            PaymentIn(
                method=PaymentMethod.stored_value,
                amount=kept.stored_value_used,
                verification=data.verification,
            )
        )
    return OrderCreate(
        external_id=data.external_id,
        store_id=kept.store_id,
        channel=kept.channel,
        member_id=kept.member_id,
        occurred_at=data.occurred_at or clock.now(),
        items=[
            OrderItemIn(
                sku=ln.sku,
                name=ln.name,
                category_code=ln.category_code,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                discount=ln.tier_discount + ln.coupon_discount,
                paid=ln.paid,
                tier_discount=ln.tier_discount,
                points=ln.points,
                stored_value=ln.stored_value,
            )
            for ln in kept.lines
        ],
        payments=payments,
        coupons=[CouponClaimIn(code=c.code, amount=c.discount) for c in kept.coupons if c.applied],
    )


# --- pricing from the database -----------------------------------------------------------------


def _price(
    session: Session,
    request: dict[str, Any],
    member: Buyer | None,
    *,
    locked: bool,
    for_earning: bool = True,
) -> tuple[QuoteRequest, Priced]:
    """The basket priced now, from the request as the quote keeps it."""
    data = QuoteRequest.model_validate(request)
    # Categories weigh only with coupons and points, or in what the order earns.
    by_catalog = for_earning or bool(data.coupon_codes) or data.points != 0
    lines = _basket(session, data, by_catalog=by_catalog)
    held = _holdings(session, data, member, lines, locked=locked)
    return data, price(lines, held, data.points, data.stored_value)


def _quoted(session: Session, data: QuoteRequest, member: Buyer | None, priced: Priced) -> QuoteOut:
    return _out(data, member, priced, _earn(session, data, member, priced))


def _basket(session: Session, data: QuoteRequest, *, by_catalog: bool) -> list[BasketLine]:
    """The lines with the catalog's category where it knows the sku (as the order will record
    it); an unknown sku is priced as given."""
    skus = sorted({ln.sku for ln in data.lines})
    known = catalog.sku_categories(session, skus) if by_catalog else {}
    found = []
    for ln in data.lines:
        line = BasketLine(
            ln.sku, ln.name or ln.sku, ln.category_code, ln.quantity, ln.unit_price, ln.member_price
        )
        product = known.get(ln.sku)
        if product is not None:
            line = replace(
                line,
                category_code=product.category_code,
                product_id=product.product_id,
                category_id=product.category_id,
            )
        found.append(line)
    return found


def _holdings(
    session: Session,
    data: QuoteRequest,
    member: Buyer | None,
    lines: list[BasketLine],
    *,
    locked: bool,
) -> Holdings:
    settings = get_settings()
    wants_points = data.points == "max" or bool(data.points)
    where = redemption.context(
        member.id if member else None,
        data.store_id,
        data.channel.value,
        clock.now(),
        points_pay=wants_points and member is not None,
    )
    asked = data.coupon_codes
    auto = asked == "auto"
    codes = _auto_codes(session, member) if asked == "auto" else _asked(asked)
    found = redemption.held(session, codes)
    coupons = [found[c].terms for c in codes if c in found]
    held = Holdings(
        member_id=member.id if member else None,
        context=where,
        coupons=coupons,
        auto=auto,
        coupons_per_order=settings.coupons_per_order,
        cash=cash.terms(session) if wants_points else cash.CashTerms(),
        principal_first=settings.stored_value_principal_first,
    )
    if member is None:
        return held
    discount = benefits.member_discount(session, member.id, is_staff=member.is_staff)
    # The order path's lock order: stored value, then points.
    principal, bonus = _stored_value(session, member.id, locked) if data.stored_value else (0, 0)
    points = _points_available(session, member.id, locked) if wants_points else 0
    return replace(
        held,
        discount_percent=discount.percent if discount else 0,
        member_price=discount is not None,
        points_available=points,
        principal=principal,
        bonus=bonus,
    )


def _asked(codes: list[str]) -> list[str]:
    return list(dict.fromkeys(coupon_codes.normalized(c) for c in codes))


def _auto_codes(session: Session, member: Buyer | None) -> list[str]:
    if member is None:
        return []
    page = holding.member_coupons(session, member.id, CouponStatus.available, None, AUTO_COUPONS)
    return [c.code for c in page.items]


def _points_available(session: Session, member_id: int, locked: bool) -> int:
    if locked:
        points_accounts.lock_accounts(session, [member_id], active=True)
    return points_queries.balance(session, member_id).available


def _stored_value(session: Session, member_id: int, locked: bool) -> tuple[int, int]:
    if locked:
        account = sv_ledger.lock_accounts(session, [member_id], active=True)[member_id]
        return account.principal, account.bonus
    held = sv_queries.balance(session, member_id)
    return held.principal, held.bonus


# --- the quote as the API shows it ------------------------------------------------------------


def _out(data: QuoteRequest, member: Buyer | None, priced: Priced, earn: EarnOut) -> QuoteOut:
    lines = [
        QuoteLineOut(
            line_no=n,
            sku=p.line.sku,
            name=p.line.name,
            category_code=p.line.category_code,
            quantity=p.line.quantity,
            unit_price=p.line.unit_price,
            list_amount=p.line.list_amount,
            tier_discount=p.tier_discount,
            coupon_discount=p.coupon_discount,
            paid=p.paid,
            points=p.points,
            points_discount=p.points_discount,
            stored_value=p.stored_value,
            amount_due=p.amount_due,
        )
        for n, p in enumerate(priced.lines, start=1)
    ]
    return QuoteOut(
        quote_id="",
        expires_at=clock.now(),
        status=QuoteStatus.open.value,
        order_id=None,
        store_id=data.store_id,
        channel=data.channel,
        member_id=member.id if member else None,
        lines=lines,
        subtotal=sum(ln.list_amount for ln in lines),
        tier_discount=priced.total("tier_discount"),
        coupon_discount=priced.total("coupon_discount"),
        total=priced.total("paid"),
        points_used=priced.total("points"),
        points_discount=priced.total("points_discount"),
        stored_value_used=priced.total("stored_value"),
        stored_value_principal=priced.principal,
        stored_value_bonus=priced.bonus,
        amount_due=priced.total("amount_due"),
        earn=earn,
        coupons=[
            CouponOfferOut(
                code=o.code,
                applied=o.applied,
                discount=o.discount,
                reason=o.refusal.value if o.refusal else None,
            )
            for o in priced.offers
        ],
        verified=False,
    )


def _earn(session: Session, data: QuoteRequest, member: Buyer | None, priced: Priced) -> EarnOut:
    """What the order will earn: points by the rules, growth, and the tier it lifts the member
    to, if any."""
    if member is None:
        return EarnOut(points=0, growth=0, tier_upgrade=None)
    now = clock.now()
    bonus = 0 if get_settings().stored_value_bonus_earns else priced.bonus
    facts = earning.OrderFacts(
        order_id=None,
        member_id=member.id,
        store_id=data.store_id,
        channel=data.channel.value,
        occurred_at=now,
        total=priced.total("paid"),
        payments={
            PaymentMethod.points.value: priced.total("points_discount"),
            PaymentMethod.stored_value.value: priced.total("stored_value"),
        },
        lines=tuple(
            earning.LineFacts(
                p.line.product_id, p.line.sku, p.line.category_id, p.line.quantity, p.paid
            )
            for p in priced.lines
        ),
        stored_value_bonus=bonus,
    )
    points = _points_earned(session, facts)
    rungs = ladder(session)
    if base(rungs) is None:
        return EarnOut(points=points, growth=0, tier_upgrade=None)
    prog = program(session)
    grown = earning.eligible_fen(facts) * prog.growth_per_yuan // growth.FEN_PER_YUAN
    upgrade = _upgrade(session, member.id, grown, now)
    return EarnOut(points=points, growth=grown, tier_upgrade=upgrade)


def _points_earned(session: Session, facts: earning.OrderFacts) -> int:
    """The base and what the rules add; the member's facts only as far as the rules read them,
    and today's awards only when a rule caps them per day."""
    rules = active_rules(session)
    if not rules:
        return earning.eligible_fen(facts) // earning.FEN_PER_POINT
    profile, tier = earning.needed_facts(rules)
    member_id = facts.member_id
    who = earning.member_facts(session, [member_id], profile=profile, tier=tier).get(member_id)
    if who is None:  # an inactive member earns nothing; the order is refused anyway
        return 0
    if any(rule.cap_per_member_day is not None for rule in rules):
        return earning.preview(session, facts, who).total
    day = facts.occurred_at.astimezone(clock.business_tz()).date()
    return earning.compute(facts, day, who, rules, {}).total


def _upgrade(session: Session, member_id: int, grown: int, now: datetime) -> TierUpgradeOut | None:
    if grown <= 0:
        return None
    where = standing.standings(session, [member_id]).get(member_id)
    if where is None:
        return None
    rungs = ladder(session)
    higher = [r for r in rungs if r.rank > where.tier.rank]
    if not higher or where.lifetime_growth + grown < higher[0].entry_threshold:
        return None
    qualifying = growth.qualifying_growth(session, member_id, program(session).metric, now)
    target = earned(rungs, qualifying + grown)
    if target is None or target.rank <= where.tier.rank:
        return None
    return TierUpgradeOut(tier_id=target.id, code=target.code, name=target.name)
