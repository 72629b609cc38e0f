"""Orders from POS and online channels, and their refunds. Orders are the raw material of
points, tiers, profiles and reports; completed and refunded orders are published as events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, NoReturn, cast

from sqlalchemy import (
    Integer,
    String,
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from patron.audit import service as audit
from patron.catalog import service as catalog
from patron.core import clock, events
from patron.core.actor import Actor
from patron.core.db import insert_or_skip
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.money import MAX_FEN, allocate
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.core.statements import Prepared
from patron.coupons import codes as coupon_codes
from patron.coupons import redemption
from patron.coupons.errors import CouponUnavailable
from patron.coupons.evaluator import Line
from patron.members import merge as member_merge
from patron.members import privacy, registry, timeline, visibility
from patron.members.models import Member
from patron.orders.events import (
    ORDER_COMPLETED,
    ORDER_REFUNDED,
    CompletedLine,
    OrderCompleted,
    OrderRefunded,
    RefundedLine,
)
from patron.orders.models import (
    Order,
    OrderLine,
    OrderPayment,
    OrderStatus,
    PaymentMethod,
    Refund,
    RefundLine,
)
from patron.orders.schemas import (
    OrderCreate,
    RefundCreate,
)
from patron.points import burning, cash
from patron.points.models import PointsAccount
from patron.stored_value import ledger as sv_ledger
from patron.stored_value import payments as sv_payments
from patron.stored_value.models import StoredValueAccount
from patron.stores import service as stores
from patron.stores.models import StoreStatus
from patron.tiers import benefits as tier_benefits

# POS clocks drift; an order stamped a few minutes ahead of ours is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


class OrderExists(Conflict):
    code = "order_exists"
    title = "This store already has an order with this external id"


class RefundExceedsOrder(Conflict):
    code = "refund_exceeds_order"
    title = "Refund exceeds what is left of the order"


# --- rules ------------------------------------------------------------------------------------


def check_amounts(data: OrderCreate) -> int:
    """The order total, after checking every line and the payments add up exactly."""
    for index, item in enumerate(data.items):
        gross = item.quantity * item.unit_price
        if item.discount > gross:
            raise InvalidInput(
                f"items.{index}.discount",
                f"{item.discount} exceeds quantity × unit_price = {gross}",
                code=Reason.discount_exceeds_price,
            )
        if item.tier_discount > item.discount:
            raise InvalidInput(
                f"items.{index}.tier_discount",
                f"{item.tier_discount} exceeds the line's discount {item.discount}",
                code=Reason.tier_discount_exceeds_discounts,
            )
        if item.paid != gross - item.discount:
            raise InvalidInput(
                f"items.{index}.paid",
                f"must be quantity × unit_price − discount = {gross - item.discount}",
                code=Reason.paid_mismatch,
            )
    total = sum(item.paid for item in data.items)
    if total == 0:
        raise InvalidInput(
            "items", "the order total is 0: an order sells something", code=Reason.order_total_zero
        )
    if total > MAX_FEN:
        raise InvalidInput(
            "items", f"the order total exceeds {MAX_FEN} fen", code=Reason.order_total_too_large
        )
    paid = sum(payment.amount for payment in data.payments)
    if paid != total:
        raise InvalidInput(
            "payments",
            f"payments add up to {paid}, the items to {total}",
            code=Reason.payments_mismatch,
        )
    if data.occurred_at > clock.now() + CLOCK_SKEW:
        raise InvalidInput("occurred_at", "is in the future", code=Reason.in_future)
    return total


def check_store(session: Session, actor: Actor, store_id: int) -> None:
    """A store in the actor's scope that is open: where a sale may be recorded."""
    try:
        store = stores.get_store(session, actor, store_id)
    except stores.StoreNotFound as exc:
        raise InvalidInput(
            "store_id", f"no store {store_id} in your scope", code=Reason.unknown_store
        ) from exc
    if store.status != StoreStatus.open:
        raise InvalidInput("store_id", f"store {store.code} is closed", code=Reason.store_closed)


def _check_member(session: Session, member_id: int | None) -> Member | None:
    if member_id is None:
        return None
    member = registry.find_active(session, member_id)
    if member is None:
        raise InvalidInput("member_id", f"no active member {member_id}", code=Reason.unknown_member)
    return member


# --- intake -----------------------------------------------------------------------------------


def count_orders(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Order)) or 0


def order_numbers(session: Session, order_ids: Iterable[int | None]) -> dict[int, str]:
    """The external order numbers of several orders at once (None ids skipped), without a scope
    check: a page links them only where the viewer may look."""
    ids = {i for i in order_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(Order.id, Order.external_id).where(Order.id.in_(ids)))
    return {order_id: external_id for order_id, external_id in rows}


def find_by_external_id(session: Session, store_id: int, external_id: str) -> Order | None:
    return session.scalar(
        select(Order).where(Order.store_id == store_id, Order.external_id == external_id)
    )


@dataclass(frozen=True)
class TakenOrder:
    """An order as intake wrote it: the response is built from this, not read back."""

    id: int
    store_id: int
    external_id: str
    channel: str
    member_id: int | None
    occurred_at: datetime
    total: int
    lines: list[dict[str, Any]]  # the order_lines columns, by line_no
    payments: list[dict[str, Any]]  # method, amount, reference
    tier_id: int | None = None
    tier_discount_amount: int = 0
    refunded_amount: int = 0
    status: str = OrderStatus.completed.value


def create_order(
    session: Session, actor: Actor, data: OrderCreate, *, payer_proven: bool = False
) -> TakenOrder:
    """Take an order in: the store, member and duplicate checks ride on the order's insert and
    the product lookup on the lines' insert; only a refused order spends queries on why. Points
    and stored value that pay for it are checked (policy, verification, balance under the
    account's lock) before the order is written and taken after it, tied to it.
    `payer_proven`: the checkout verified the stored-value payer at its quote."""
    total = check_amounts(data)
    if not actor.sees_store(data.store_id):
        raise InvalidInput(
            "store_id", f"no store {data.store_id} in your scope", code=Reason.unknown_store
        )
    terms = cash.terms(session) if _pays_with_points(data) else None
    pay_lines = _pay_lines(session, data, terms) if terms else []
    points = _points_payment(data, terms, pay_lines) if terms else 0
    given = _given_lines(data, terms, pay_lines)
    tier_id = _tier_discount(session, data) if data.tier_discount_amount else None
    coupons = _checked_coupons(session, data) if data.coupons else []
    if data.stored_value is not None or points:
        _check_not_taken(session, data)
    # Before anything is written: a failed verification is kept (counted) with the refusal.
    payer = _stored_value_payer(session, data, payer_proven)
    burner = _points_payer(session, data, points)
    after = {"external_id": data.external_id, "total": total, "member_id": data.member_id}
    entry = audit.entry_values(
        actor, "order.create", "order", "", store_id=data.store_id, after=after
    )
    written = _write_order(session, data, given, total, entry, tier_id)
    if written is None:
        _refusal(session, actor, data)
    order_id, lines = written
    with events.batched(session):
        if coupons:
            redemption.redeem(session, actor, coupons, order_id, data.store_id, data.occurred_at)
        stored_value_bonus = 0
        if payer is not None:
            account, amount = payer
            spent = sv_ledger.take(
                session,
                account,
                amount,
                store_id=data.store_id,
                operator=actor.name,
                order_id=order_id,
            )
            stored_value_bonus = -spent.bonus
        if burner is not None:
            burning.take(
                session,
                burner,
                points,
                order_id=order_id,
                store_id=data.store_id,
                operator=actor.name,
            )
        payments = [
            {
                "order_id": order_id,
                "method": p.method.value,
                "amount": p.amount,
                "reference": p.reference,
            }
            for p in data.payments
        ]
        order = TakenOrder(
            id=order_id,
            store_id=data.store_id,
            external_id=data.external_id,
            channel=data.channel.value,
            member_id=data.member_id,
            occurred_at=data.occurred_at.astimezone(UTC),
            total=total,
            lines=lines,
            payments=payments,
            tier_id=tier_id,
            tier_discount_amount=data.tier_discount_amount,
        )
        publish_completed(
            session,
            {k: getattr(order, k) for k in ORDER_FIELDS},
            lines,
            [(p.method.value, p.amount) for p in data.payments],
            stored_value_bonus,
        )
    return order


def _pays_with_points(data: OrderCreate) -> bool:
    return data.points_fen > 0 or any(item.points for item in data.items)


def _pay_lines(session: Session, data: OrderCreate, terms: cash.CashTerms) -> list[cash.PayLine]:
    """The lines as points-as-cash sees them; with category caps, each line's category as the
    catalog has it (which is what the order's line records), else as given."""
    codes = {item.sku: item.category_code for item in data.items}
    if terms.category_caps:
        products = catalog.products_by_sku(session, sorted(codes))
        known = catalog.category_codes(session, (p.category_id for p in products.values()))
        for sku, product in products.items():
            codes[sku] = known.get(product.category_id or 0)
    return [cash.PayLine(codes[item.sku], item.paid) for item in data.items]


def _points_payment(data: OrderCreate, terms: cash.CashTerms, pay_lines: list[cash.PayLine]) -> int:
    """The points the order's points payments burn, once the policy allows them: their fen at
    the policy's value, within its minimum, caps and share, and beside coupons only if it says
    so. Lines that name their points must name them all and in whole fen, within their
    categories' caps."""
    fen = data.points_fen
    points = terms.points_of(fen)
    if points is None:
        raise InvalidInput(
            "payments",
            f"{fen} fen is not a whole number of points at {terms.points_per_yuan} per yuan",
            code=Reason.points_not_whole_fen,
        )
    named = [item.points for item in data.items]
    if any(named):
        cash.check_named(terms, pay_lines, named, points)
    if points:
        cash.check(terms, pay_lines, points, with_coupons=bool(data.coupons))
    return points


def _line_tenders(
    data: OrderCreate, terms: cash.CashTerms | None, pay_lines: list[cash.PayLine]
) -> tuple[list[int], list[int]] | None:
    """Points and stored-value fen per line: as the lines name them, or the payments spread over
    the lines (points by what each line may take, stored value by what points leave of each);
    None when the order pays with neither."""
    stored_value = data.stored_value[0] if data.stored_value else 0
    named_value = [item.stored_value for item in data.items]
    if terms is None and not stored_value and not any(named_value):
        return None
    if terms is None:
        points = [0] * len(data.items)
    elif any(item.points for item in data.items):
        points = [item.points for item in data.items]
    else:
        points = cash.spread(terms, pay_lines, terms.points_of(data.points_fen) or 0)
    points_fen = [terms.fen_of(p) if terms else 0 for p in points]
    if any(named_value):
        if sum(named_value) != stored_value:
            raise InvalidInput(
                "items",
                f"the lines' stored value adds up to {sum(named_value)},"
                f" the stored-value payment to {stored_value}",
                code=Reason.tenders_mismatch,
            )
        values = named_value
    else:
        values = allocate(
            stored_value,
            [item.paid - fen for item, fen in zip(data.items, points_fen, strict=True)],
        )
    for index, item in enumerate(data.items):
        if points_fen[index] + values[index] > item.paid:
            raise InvalidInput(
                f"items.{index}",
                f"points ({points_fen[index]} fen) and stored value ({values[index]} fen)"
                f" exceed the line's paid {item.paid}",
                code=Reason.tenders_exceed_paid,
            )
    return points, values


def _tier_discount(session: Session, data: OrderCreate) -> int:
    """The tier whose discount the order got, after checking the member may have it
    (`tiers.benefits.at_till`) and the amount is inside the lines' discounts with the
    coupons'. One query: the member's staff flag with their tier."""
    amount = data.tier_discount_amount
    field = "tier_discount_amount"
    if data.member_id is None:
        raise InvalidInput(
            field,
            "a tier discount is the member's: give member_id",
            code=Reason.tier_discount_needs_member,
        )
    discounts = sum(item.discount for item in data.items)
    coupons = sum(c.amount for c in data.coupons)
    if amount + coupons > discounts:
        raise InvalidInput(
            field,
            f"the tier discount {amount} and coupons {coupons} exceed"
            f" the lines' discounts {discounts}",
            code=Reason.tier_discount_exceeds_discounts,
        )
    found = tier_benefits.at_till(session, data.member_id)
    if found is None:
        raise InvalidInput(
            "member_id", f"no active member {data.member_id}", code=Reason.unknown_member
        )
    if found.discount is not None:
        return found.discount.tier_id
    if found.staff_refused:
        raise InvalidInput(
            field, "staff members get no tier discount", code=Reason.staff_no_tier_discount
        )
    raise InvalidInput(field, "the member's tier gives no discount", code=Reason.no_tier_discount)


def _check_not_taken(session: Session, data: OrderCreate) -> None:
    """A retry of an order taken already is answered order_exists before its member is asked
    to verify again or its points are counted again."""
    existing = find_by_external_id(session, data.store_id, data.external_id)
    if existing is not None:
        raise OrderExists(f"order {data.external_id} exists as {existing.id}", order_id=existing.id)


def _stored_value_payer(
    session: Session, data: OrderCreate, proven: bool
) -> tuple[StoredValueAccount, int] | None:
    """The paying member's account, locked, verified and holding the order's stored-value
    payments, and their fen; None when the order has none."""
    paying = data.stored_value
    if paying is None:
        return None
    assert data.member_id is not None  # the schema says so
    amount, given = paying
    verification = sv_payments.Verification(given.member_code, given.password) if given else None
    account = sv_payments.authorize(session, data.member_id, amount, verification, proven=proven)
    return account, amount


def _points_payer(session: Session, data: OrderCreate, points: int) -> PointsAccount | None:
    """The paying member's points account, locked and holding `points`; None without points."""
    if not points:
        return None
    assert data.member_id is not None  # the schema says so
    return burning.authorize(session, data.member_id, points)


def _checked_coupons(session: Session, data: OrderCreate) -> list[redemption.Redemption]:
    """The order's coupons checked against its lines before anything is written, so that a
    refused coupon leaves no order behind."""
    by_line = any(item.tier_discount for item in data.items)
    lines = [
        Line(
            item.sku,
            item.category_code,
            item.quantity,
            item.unit_price,
            item.paid,
            item.discount,
            tier_discounted=item.tier_discount > 0,
        )
        for item in data.items
    ]
    # Lines that say which of them carry the tier discount are judged line by line.
    where = redemption.context(
        data.member_id,
        data.store_id,
        data.channel.value,
        data.occurred_at,
        points_pay=any(p.method == PaymentMethod.points for p in data.payments),
        tier_discount=data.tier_discount and not by_line,
    )
    claims = [redemption.Claim(coupon_codes.normalized(c.code), c.amount) for c in data.coupons]
    discounts = sum(item.discount for item in data.items)
    try:
        return redemption.check_claims(session, claims, lines, where, discounts)
    except CouponUnavailable as refused:
        # A till retrying an order it already recorded finds its coupon used by that order.
        existing = find_by_external_id(session, data.store_id, data.external_id)
        if existing is None:
            raise
        raise OrderExists(
            f"order {data.external_id} exists as {existing.id}", order_id=existing.id
        ) from refused


ORDERS = cast(Table, Order.__table__)
LINES = cast(Table, OrderLine.__table__)
PAYMENTS = cast(Table, OrderPayment.__table__)
ORDER_COLUMNS = ("store_id", "external_id", "channel", "member_id", "occurred_at", "total")
TIER_COLUMNS = ("tier_id", "tier_discount_amount")


def _order_statement(session: Session, with_member: bool, with_tier: bool) -> Any:
    """INSERT of an order that writes nothing unless its store is open and its member (if any)
    active, and nothing when the store has this external id already (the constraint answers,
    also for a concurrent request, after it commits). Only an order with a tier discount names
    the tier columns."""
    given_columns = ORDER_COLUMNS + (TIER_COLUMNS if with_tier else ())
    given = {c: bindparam(c, type_=ORDERS.c[c].type) for c in given_columns}
    # PostgreSQL types a bare parameter in a select list as text (a NULL member id too).
    typed = [given[c] if c == "occurred_at" else cast_(given[c], ORDERS.c[c].type) for c in given]
    now = bindparam("now", type_=ORDERS.c.created_at.type)
    wanted = select(*typed, now, literal(0), literal(OrderStatus.completed.value))
    wanted = wanted.where(stores.is_open(given["store_id"]))
    if with_member:
        wanted = wanted.where(registry.is_active(given["member_id"]))
    columns = [*given_columns, "created_at", "refunded_amount", "status"]
    return (
        insert_or_skip(session, ORDERS)
        .from_select(columns, wanted)
        .on_conflict_do_nothing(index_elements=["store_id", "external_id"])
        .returning(ORDERS.c.id)
    )


def _write_order(
    session: Session,
    data: OrderCreate,
    given: list[dict[str, Any]],
    total: int,
    entry: dict[str, Any],
    tier_id: int | None,
) -> tuple[int, list[dict[str, Any]]] | None:
    """Insert the order, its lines, its payments and its audit `entry`: one statement on
    PostgreSQL, four on SQLite. The order's id and its lines as written, or None when the
    order's insert wrote nothing. A line whose sku the catalog lacks costs statements of its
    own."""
    values: dict[str, Any] = {
        "store_id": data.store_id,
        "external_id": data.external_id,
        "channel": data.channel.value,
        "member_id": data.member_id,
        "occurred_at": data.occurred_at,
        "total": total,
        "now": entry["created_at"],
    }
    if tier_id is not None:
        values |= {"tier_id": tier_id, "tier_discount_amount": data.tier_discount_amount}
    tendered = _tendered(given)
    for n, line in enumerate(given):
        values.update(
            {f"{k}_{n}": v for k, v in line.items() if tendered or k not in TENDER_COLUMNS}
        )
    for n, p in enumerate(data.payments):
        values |= {f"method_{n}": p.method.value, f"amount_{n}": p.amount}
        values[f"reference_{n}"] = p.reference
    shape = (
        data.member_id is not None,
        tier_id is not None,
        len(given),
        len(data.payments),
        tendered,
    )
    if session.get_bind().dialect.name == "postgresql":
        rows = _order_with_lines(*shape).rows(session, values | audit.entry_parameters(entry))
        if not rows:
            return None
        order_id, returned = rows[0][0], [row[1:] for row in rows if row[1] is not None]
    else:
        inserted = _order_insert(*shape[:2]).rows(session, values)
        if not inserted:
            return None
        order_id = values["order_id"] = inserted[0][0]
        returned = _lines_insert(shape[2], tendered).rows(session, values)
        _payments_insert(shape[3]).run(session, values)
        audit.record_many(session, [entry | {"entity_id": str(order_id)}])
    written = {row[1]: dict(zip(LINE_RETURNED, row, strict=True)) for row in returned}
    if len(written) < len(given):
        written |= _insert_new_product_lines(session, order_id, data, given, written)
    lines = [
        {**line, **written[line["line_no"]], "refunded_quantity": 0, "refunded_amount": 0}
        for line in given
    ]
    return order_id, lines


@cache
def _order_with_lines(
    with_member: bool, with_tier: bool, lines: int, payments: int, tendered: bool
) -> Prepared:
    """PostgreSQL: the order's insert, and its lines', payments' and audit entry's from what it
    returns, in one statement; a row per line written, or one without a line, or none when the
    order was not. Built once per shape."""

    def build(session: Session) -> Any:
        order = _order_statement(session, with_member, with_tier).cte("new_order")
        written = _lines_statement(lines, order.c.id, tendered).cte("lines")
        returned = select(order.c.id, *(written.c[c] for c in LINE_RETURNED))
        returned = returned.select_from(order.outerjoin(written, true()))
        return returned.add_cte(
            _payments_statement(payments, order.c.id).cte("payments"),
            audit.entry_insert(order.c.id).cte("audit"),
        )

    return Prepared(build)


@cache
def _order_insert(with_member: bool, with_tier: bool) -> Prepared:
    return Prepared(lambda session: _order_statement(session, with_member, with_tier))


def _refusal(session: Session, actor: Actor, data: OrderCreate) -> NoReturn:
    """Why the order's insert wrote nothing: the store, the member, or the order exists."""
    check_store(session, actor, data.store_id)
    _check_member(session, data.member_id)
    existing = find_by_external_id(session, data.store_id, data.external_id)
    raise OrderExists(
        f"order {data.external_id} exists" + (f" as {existing.id}" if existing else ""),
        **({"order_id": existing.id} if existing else {}),
    )


LINE_GIVEN = (
    ("line_no", Integer()),
    ("sku", String()),
    ("name", String()),
    ("quantity", Integer()),
    ("unit_price", Integer()),
    ("discount", Integer()),
    ("paid", Integer()),
)
TENDER_COLUMNS = ("tier_discount", "points", "stored_value")
LINE_TENDERS = tuple((name, Integer()) for name in TENDER_COLUMNS)
LINE_RETURNED = ("id", "line_no", "product_id", "category_id")


@cache
def _lines_insert(count: int, tendered: bool) -> Prepared:
    order_id = cast_(bindparam("order_id"), Integer())
    return Prepared(lambda _: _lines_statement(count, order_id, tendered))


@cache
def _payments_insert(count: int) -> Prepared:
    return Prepared(lambda _: _payments_statement(count, cast_(bindparam("order_id"), Integer())))


def _lines_statement(count: int, order_id: ColumnElement[int], tendered: bool) -> Any:
    """INSERT of `count` lines of the order that takes each line's product and category from the
    catalog by sku; a line whose sku the catalog lacks is left out. Tendered lines name their
    tier discounts, points and stored value too."""
    named = LINE_GIVEN + (LINE_TENDERS if tendered else ())
    selects = [
        select(*(cast_(bindparam(f"{name}_{n}"), kind).label(name) for name, kind in named))
        for n in range(count)
    ]
    given = (union_all(*selects) if count > 1 else selects[0]).subquery("given")
    products = catalog.PRODUCTS
    # The order's member and time, from the order's own parameters (no statement more).
    member_id = cast_(bindparam("member_id"), Integer())
    occurred_at = bindparam("occurred_at", type_=LINES.c.occurred_at.type)
    rows = (
        select(
            order_id,
            *(given.c[name] for name, _ in named),
            products.c.id,
            products.c.category_id,
            member_id,
            occurred_at,
            literal(0),
            literal(0),
        )
        .join_from(given, products, products.c.sku == given.c.sku)
        .order_by(given.c.line_no)
    )
    columns = [
        "order_id",
        *(name for name, _ in named),
        "product_id",
        "category_id",
        "member_id",
        "occurred_at",
        "refunded_quantity",
        "refunded_amount",
    ]
    return insert(LINES).from_select(columns, rows).returning(*(LINES.c[c] for c in LINE_RETURNED))


PAYMENT_GIVEN = (("method", String()), ("amount", Integer()), ("reference", String()))


def _payments_statement(count: int, order_id: ColumnElement[int]) -> Any:
    """INSERT of the order's `count` payments."""
    selects = [
        select(order_id, *(cast_(bindparam(f"{name}_{n}"), kind) for name, kind in PAYMENT_GIVEN))
        for n in range(count)
    ]
    rows = union_all(*selects) if count > 1 else selects[0]
    return insert(PAYMENTS).from_select(["order_id", *(n for n, _ in PAYMENT_GIVEN)], rows)


def _given_lines(
    data: OrderCreate, terms: cash.CashTerms | None, pay_lines: list[cash.PayLine]
) -> list[dict[str, Any]]:
    tenders = _line_tenders(data, terms, pay_lines)
    points, values = tenders or ([0] * len(data.items), [0] * len(data.items))
    return [
        {
            "line_no": n + 1,
            "sku": item.sku,
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": item.unit_price,
            "discount": item.discount,
            "paid": item.paid,
            "tier_discount": item.tier_discount,
            "points": points[n],
            "stored_value": values[n],
        }
        for n, item in enumerate(data.items)
    ]


def _tendered(given: list[dict[str, Any]]) -> bool:
    """Whether the lines' insert names their tier discounts and tenders: only when one is not 0,
    so that the plain order's statement stays as it was."""
    return any(line[c] for line in given for c in TENDER_COLUMNS)


def _insert_new_product_lines(
    session: Session,
    order_id: int,
    data: OrderCreate,
    given: list[dict[str, Any]],
    written: dict[int, dict[str, Any]],
) -> dict[int, dict[str, Any]]:
    """The lines whose sku is new to the catalog: the products first, then the lines."""
    missing = [line for line in given if line["line_no"] not in written]
    items = {line["sku"]: data.items[line["line_no"] - 1] for line in missing}
    products = catalog.ensure_products(
        session, (catalog.LineProduct(i.sku, i.name, i.category_code) for i in items.values())
    )
    rows = [
        {
            **line,
            "order_id": order_id,
            "member_id": data.member_id,
            "occurred_at": data.occurred_at,
            "product_id": products[line["sku"]].id,
            "category_id": products[line["sku"]].category_id,
        }
        for line in missing
    ]
    returned = session.execute(
        insert(LINES).returning(*(LINES.c[c] for c in LINE_RETURNED), sort_by_parameter_order=True),
        rows,
    )
    return {row.line_no: row._asdict() for row in returned}


ORDER_FIELDS = ("id", "store_id", "member_id", "channel", "occurred_at", "total")
LINE_FIELDS = ("id", "sku", "product_id", "category_id", "quantity", "paid")


def completed_payloads(session: Session, order_ids: list[int]) -> list[OrderCompleted]:
    """`order.completed` payloads of existing orders, for work that replays history. Plain rows,
    not ORM objects: replaying 300,000 orders must not fill the session."""
    order_columns = [getattr(Order, k) for k in ORDER_FIELDS]
    orders = session.execute(
        select(*order_columns).where(Order.id.in_(order_ids)).order_by(Order.occurred_at, Order.id)
    ).all()
    lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    line_columns = [OrderLine.order_id, *(getattr(OrderLine, k) for k in LINE_FIELDS)]
    for row in session.execute(
        select(*line_columns).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.id)
    ):
        lines[row[0]].append(dict(zip(LINE_FIELDS, row[1:], strict=True)))
    payments: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for order_id, method, amount in session.execute(
        select(OrderPayment.order_id, OrderPayment.method, OrderPayment.amount).where(
            OrderPayment.order_id.in_(order_ids)
        )
    ):
        payments[order_id].append((method, amount))
    bonus = sv_ledger.bonus_spent(session, order_ids)
    return [
        completed_payload(
            dict(zip(ORDER_FIELDS, row, strict=True)),
            lines[row[0]],
            payments[row[0]],
            bonus.get(row[0], 0),
        )
        for row in orders
    ]


def member_order_ids(session: Session) -> list[int]:
    """Ids of orders with a member, oldest first."""
    return list(
        session.scalars(
            select(Order.id)
            .where(Order.member_id.is_not(None))
            .order_by(Order.occurred_at, Order.id)
        )
    )


def completed_payload(
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    payments: list[tuple[str, int]],
    stored_value_bonus: int = 0,
) -> OrderCompleted:
    """The `order.completed` payload; `order` and `lines` carry ORDER_FIELDS and LINE_FIELDS."""
    by_method: dict[str, int] = defaultdict(int)
    for method, amount in payments:
        by_method[method] += amount
    return OrderCompleted(
        order_id=order["id"],
        **{k: order[k] for k in ORDER_FIELDS[1:]},
        payments=dict(by_method),
        lines=tuple(
            CompletedLine(line_id=ln["id"], **{k: ln[k] for k in LINE_FIELDS[1:]}) for ln in lines
        ),
        stored_value_bonus=stored_value_bonus,
    )


def publish_completed(
    session: Session,
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    payments: list[tuple[str, int]],
    stored_value_bonus: int = 0,
) -> None:
    payload = completed_payload(order, lines, payments, stored_value_bonus)
    events.publish(session, ORDER_COMPLETED, order["id"], payload)


# --- refunds ----------------------------------------------------------------------------------


def _lock_order(session: Session, actor: Actor, order_id: int) -> Order:
    """The order's row, locked after its member's (the global lock order): a merge moving the
    order to its survivor holds the member first."""
    owner = session.scalar(select(Order.member_id).where(Order.id == order_id))
    if owner is not None:
        member_merge.hold_survivor(session, owner)
    order = session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None or not actor.sees_store(order.store_id):
        raise OrderNotFound(f"no order {order_id}")
    return order


def lines_of(session: Session, order_id: int) -> list[OrderLine]:
    return list(
        session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        )
    )


def lines_of_orders(session: Session, order_ids: Sequence[int]) -> dict[int, list[OrderLine]]:
    """Each order's lines in order, by order id (an order without lines maps to [])."""
    found: dict[int, list[OrderLine]] = {order_id: [] for order_id in order_ids}
    for line in session.scalars(
        select(OrderLine)
        .where(OrderLine.order_id.in_(list(found)))
        .order_by(OrderLine.order_id, OrderLine.line_no)
    ):
        found[line.order_id].append(line)
    return found


def _requested(data: RefundCreate, lines: list[OrderLine]) -> dict[int, int]:
    """line id -> quantity to refund now."""
    if data.all:
        remaining = {
            ln.id: ln.quantity - ln.refunded_quantity
            for ln in lines
            if ln.refunded_quantity < ln.quantity
        }
        if not remaining:
            raise RefundExceedsOrder("everything on this order is refunded already")
        return remaining
    by_id = {ln.id: ln for ln in lines}
    wanted: dict[int, int] = defaultdict(int)
    for index, item in enumerate(data.items):
        if item.line_id not in by_id:
            raise InvalidInput(
                f"items.{index}.line_id",
                f"line {item.line_id} is not on this order",
                code=Reason.unknown_line,
            )
        wanted[item.line_id] += item.quantity
    for line_id, quantity in wanted.items():
        left = by_id[line_id].quantity - by_id[line_id].refunded_quantity
        if quantity > left:
            raise RefundExceedsOrder(
                f"line {line_id}: {quantity} asked, {left} left", line_id=line_id, left=left
            )
    return dict(wanted)


def refund_order(session: Session, actor: Actor, order_id: int, data: RefundCreate) -> Refund:
    """Refund lines in part or whole. Amounts are cumulative shares of what each line paid, so
    refunding a line bit by bit returns exactly its paid amount, never a fen more or less; the
    points and stored value that paid the lines come back by the same rule (`OrderRefunded`'s
    points_back and stored_value_back)."""
    order = _lock_order(session, actor, order_id)
    lines = lines_of(session, order.id)
    wanted = _requested(data, lines)
    refund = Refund(order_id=order.id, amount=0, reason=data.reason, created_by=actor.name)
    session.add(refund)
    session.flush()
    refund_lines = []
    points_back = stored_value_back = 0
    for line in lines:
        quantity = wanted.get(line.id, 0)
        if not quantity:
            continue
        refunded_total = line.paid * (line.refunded_quantity + quantity) // line.quantity
        amount = refunded_total - line.refunded_amount
        points_back += _share_back(line, line.points, quantity)
        stored_value_back += _share_back(line, line.stored_value, quantity)
        line.refunded_quantity += quantity
        line.refunded_amount = refunded_total
        refund.amount += amount
        refund_lines.append(
            RefundLine(refund_id=refund.id, line_id=line.id, quantity=quantity, amount=amount)
        )
    session.add_all(refund_lines)
    order.refunded_amount += refund.amount
    fully = all(ln.refunded_quantity == ln.quantity for ln in lines)
    order.status = (OrderStatus.refunded if fully else OrderStatus.partially_refunded).value
    session.flush()
    audit.record(
        session,
        actor,
        "order.refund",
        "order",
        order.id,
        store_id=order.store_id,
        after={"refund_id": refund.id, "amount": refund.amount, "reason": data.reason},
    )
    with events.batched(session):  # with what its subscribers publish
        events.publish(
            session,
            ORDER_REFUNDED,
            order.id,
            OrderRefunded(
                order_id=order.id,
                refund_id=refund.id,
                store_id=order.store_id,
                member_id=order.member_id,
                amount=refund.amount,
                refunded_total=order.refunded_amount,
                order_total=order.total,
                fully_refunded=fully,
                lines=tuple(
                    RefundedLine(line_id=rl.line_id, quantity=rl.quantity, amount=rl.amount)
                    for rl in refund_lines
                ),
                operator=actor.name,
                points_back=points_back if any(ln.points for ln in lines) else None,
                stored_value_back=(
                    stored_value_back if any(ln.stored_value for ln in lines) else None
                ),
            ),
        )
    return refund


def _share_back(line: OrderLine, tender: int, quantity: int) -> int:
    """What refunding `quantity` more of the line gives back of `tender` (its points or stored
    value): cumulative floors, so the line's last refund gives back the rest exactly."""
    before = tender * line.refunded_quantity // line.quantity
    return tender * (line.refunded_quantity + quantity) // line.quantity - before


# --- queries ----------------------------------------------------------------------------------


@dataclass
class OrderFilter:
    store_id: int | None = None
    member_id: int | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_orders(
    session: Session, actor: Actor, filters: OrderFilter, cursor: str | None, limit: int
) -> PageResult[Order]:
    query = select(Order)
    if actor.store_ids is not None:
        query = query.where(Order.store_id.in_(actor.store_ids))
    for column, value in (
        (Order.store_id, filters.store_id),
        (Order.member_id, filters.member_id),
        (Order.channel, filters.channel),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(Order.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(Order.occurred_at < filters.until)
    return paginate(session, query, Order.id, cursor, limit)


def sales_summary(
    session: Session, actor: Actor, since: datetime, until: datetime
) -> tuple[int, int]:
    """(orders, total in fen) of the orders in the actor's stores that occurred in
    [since, until): one aggregate query. Refunds are not taken off the total."""
    query = select(func.count(), func.coalesce(func.sum(Order.total), 0)).where(
        Order.occurred_at >= since, Order.occurred_at < until
    )
    if actor.store_ids is not None:
        query = query.where(Order.store_id.in_(actor.store_ids))
    count, total = session.execute(query).one()
    return int(count), int(total)


def get_order(session: Session, actor: Actor, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None or not actor.sees_store(order.store_id):
        raise OrderNotFound(f"no order {order_id}")
    return order


# --- member hooks: merge, timeline, export, visibility --------------------------------------------


@member_merge.on_merge.register("orders")
def _move_orders(session: Session, source: Member, target: Member) -> None:
    # The lines first, found through their orders (lines have no index on member_id).
    moved = select(Order.id).where(Order.member_id == source.id)
    session.execute(
        update(OrderLine).where(OrderLine.order_id.in_(moved)).values(member_id=target.id)
    )
    session.execute(update(Order).where(Order.member_id == source.id).values(member_id=target.id))


@timeline.timeline_sources.register("orders")
def _order_events(session: Session, member: Member) -> list[timeline.TimelineEvent]:
    recent = list(
        session.scalars(
            select(Order)
            .where(Order.member_id == member.id)
            .order_by(Order.occurred_at.desc())
            .limit(50)
        )
    )
    found = [
        timeline.TimelineEvent(
            o.occurred_at,
            "order",
            "order",
            {"order_id": o.id, "store_id": o.store_id, "total": o.total, "channel": o.channel},
        )
        for o in recent
    ]
    if recent:
        refunds = session.scalars(select(Refund).where(Refund.order_id.in_([o.id for o in recent])))
        found += [
            timeline.TimelineEvent(
                r.created_at,
                "refund",
                "refund",
                {"order_id": r.order_id, "refund_id": r.id, "amount": r.amount},
            )
            for r in refunds
        ]
    return found


@visibility.served_in.register("orders")
def _ordered_in(session: Session, member_id: int, store_ids: frozenset[int]) -> bool:
    """A member who bought in one of the stores is that store's business (read by id there)."""
    return bool(
        session.scalar(
            select(exists().where(Order.member_id == member_id, Order.store_id.in_(store_ids)))
        )
    )


@privacy.export_sections.register("orders")
def _export_orders(session: Session, member: Member) -> list[dict[str, Any]]:
    return [
        {
            "id": o.id,
            "store_id": o.store_id,
            "external_id": o.external_id,
            "channel": o.channel,
            "occurred_at": o.occurred_at.isoformat(),
            "total": o.total,
            "refunded_amount": o.refunded_amount,
        }
        for o in session.scalars(
            select(Order).where(Order.member_id == member.id).order_by(Order.id)
        )
    ]


# --- figures for other domains' reports -----------------------------------------------------------


def net_sales_by(session: Session, keyed_orders: Select[Any, int | None]) -> dict[Any, int]:
    """Net sales (each order's total less what was refunded of it) per key, in fen, in one
    query: `keyed_orders` selects (key, order id) pairs, e.g. a coupon template and the order a
    coupon of it was redeemed on; an order counts once per key however often it is paired."""
    pairs = keyed_orders.distinct().subquery("keyed_orders")
    key, order_id = pairs.c
    query = (
        select(key, func.sum(Order.total - Order.refunded_amount))
        .join_from(pairs, Order, Order.id == order_id)
        .group_by(key)
    )
    return {row[0]: int(row[1]) for row in session.execute(query)}
