"""Loading a chain's order history from CSV or Excel, one row per order line, rows of one order
together. Validated like live intake, idempotent by store and external id, written in batches
through COPY (PostgreSQL) or executemany (SQLite), each batch committed on its own: an import
stopped midway (killed, say) leaves whole orders only, and running the file again loads the rest.
History does not publish `order.completed` unless asked to, so loading last year's orders does
not award points today."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import islice
from typing import Any, cast

from pydantic_core import PydanticCustomError
from sqlalchemy import Table, select, tuple_
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.catalog import service as catalog
from patron.catalog.schemas import CATEGORY_CODE_LENGTH
from patron.core import bulk, clock
from patron.core.actor import Actor
from patron.core.batches import Batches, Lookups
from patron.core.errors import InvalidInput
from patron.core.money import MAX_FEN, yuan_to_fen
from patron.core.reasons import Reason
from patron.core.tabular import (
    DEFAULT_LIMITS,
    FileLimits,
    RefusedCell,
    RowError,
    cell_text,
    check_key,
    read_table,
    row_error,
)
from patron.members import registry
from patron.members.schemas import normalize_mobile
from patron.orders import service
from patron.orders.models import Order, OrderChannel, OrderLine, OrderPayment, PaymentMethod
from patron.orders.schemas import MAX_QUANTITY, OrderImportReport, check_occurred_at
from patron.stores import service as stores

# Orders per batch when the caller's transaction takes them all (the demo's history).
BATCH_ORDERS = 2000
ORDERS = cast(Table, Order.__table__)
LINES = cast(Table, OrderLine.__table__)
PAYMENTS = cast(Table, OrderPayment.__table__)
HEADERS = {
    "store": "store", "store_code": "store", "门店": "store", "门店编码": "store",
    "order_no": "external_id", "external_id": "external_id", "订单号": "external_id",
    "occurred_at": "occurred_at", "下单时间": "occurred_at", "交易时间": "occurred_at",
    "channel": "channel", "渠道": "channel",
    "member_mobile": "mobile", "mobile": "mobile", "会员手机号": "mobile", "手机号": "mobile",
    "sku": "sku", "商品编码": "sku",
    "name": "name", "商品名称": "name",
    "category_code": "category_code", "品类编码": "category_code",
    "quantity": "quantity", "数量": "quantity",
    "unit_price": "unit_price", "单价": "unit_price",
    "discount": "discount", "优惠": "discount", "优惠金额": "discount",
    "paid": "paid", "实付": "paid", "实付金额": "paid",
    "payment_method": "payment_method", "支付方式": "payment_method",
}  # fmt: skip
PAYMENT_NAMES = {
    "现金": "cash", "银行卡": "bank_card", "微信": "wechat_pay", "微信支付": "wechat_pay",
    "支付宝": "alipay", "储值": "stored_value", "积分": "points", "优惠券": "coupon",
    "其他": "other",
}  # fmt: skip
REQUIRED = ("store", "external_id", "occurred_at", "sku", "name", "quantity", "unit_price", "paid")


@dataclass(frozen=True)
class OrderRows:
    """The rows of an order file, readable more than once: the import checks first that the
    rows of each order are together, then reads them again to load."""

    content: bytes
    filename: str
    limits: FileLimits

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return read_table(self.content, self.filename, HEADERS, REQUIRED, self.limits)


def read_rows(content: bytes, filename: str, limits: FileLimits = DEFAULT_LIMITS) -> OrderRows:
    return OrderRows(content, filename, limits)


def _order_key(row: dict[str, Any]) -> tuple[str, str]:
    try:
        return cell_text(row.get("store")), cell_text(row.get("external_id"))
    except RefusedCell as refused:  # keyed by the text as sent; its order's head reports it
        return refused.field_name, refused.value


def scattered_orders(rows: Iterable[tuple[int, dict[str, Any]]]) -> set[tuple[str, str]]:
    """Orders whose rows are not together in the file. Loading one from its first run of rows
    would store it incomplete, and a corrected re-import would then skip it as already there."""
    scattered: set[tuple[str, str]] = set()
    seen: set[tuple[str, str]] = set()
    previous = None
    for _, row in rows:
        key = _order_key(row)
        if key != previous:
            if key in seen:
                scattered.add(key)
            seen.add(key)
            previous = key
    return scattered


@dataclass
class ParsedLine:
    sku: str
    name: str
    category_code: str | None
    quantity: int
    unit_price: int
    discount: int
    paid: int
    payment_method: str


@dataclass
class ParsedOrder:
    first_row: int
    store_id: int
    external_id: str
    occurred_at: datetime
    channel: str
    member_id: int | None = None
    mobile: str | None = None
    lines: list[ParsedLine] = field(default_factory=list)


def _money(row: dict[str, Any], name: str, default: str = "") -> int:
    text = cell_text(row.get(name)) or default
    try:
        amount = yuan_to_fen(text)
    except ValueError as exc:
        raise RowError(name, str(exc), code=Reason.not_an_amount) from exc
    if not 0 <= amount <= MAX_FEN:
        raise RowError(name, f"negative or above {MAX_FEN} fen", code=Reason.out_of_range)
    return amount


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(cell_text(value).replace("/", "-"))
        except ValueError as exc:
            reason = f"not a date-time: {cell_text(value)!r}"
            raise RowError("occurred_at", reason, code=Reason.not_a_datetime) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.business_tz())
    try:
        check_occurred_at(moment)
    except PydanticCustomError as exc:
        raise RowError.coded("occurred_at", exc) from exc
    if moment > clock.now() + service.CLOCK_SKEW:
        raise RowError("occurred_at", "is in the future", code=Reason.in_future)
    return moment


class RowParser:
    """Rows to orders; a store code is looked up once, in a short transaction of its own
    (`lookups`), so that reading the file holds no lock."""

    def __init__(self, lookups: Lookups, actor: Actor) -> None:
        self.lookups, self.actor = lookups, actor
        self._stores: dict[str, int | None] = {}

    def store(self, code: str) -> int:
        if code not in self._stores:
            try:
                with self.lookups() as session:
                    self._stores[code] = stores.ids_for_codes(session, [code])[0]
            except InvalidInput:
                self._stores[code] = None
        store_id = self._stores[code]
        if store_id is None or not self.actor.sees_store(store_id):
            raise RowError("store", f"no store {code!r} in your scope", code=Reason.unknown_store)
        return store_id

    def line(self, row: dict[str, Any]) -> ParsedLine:
        sku, name = cell_text(row.get("sku")), cell_text(row.get("name"))
        check_key("sku", sku)
        if not name:
            raise RowError("name", "missing", code=Reason.missing)
        try:
            quantity = int(cell_text(row.get("quantity")))
        except ValueError as exc:
            raise RowError(
                "quantity", "not a whole number", code=Reason.not_a_whole_number
            ) from exc
        if not 0 < quantity <= MAX_QUANTITY:
            reason = f"must be positive and at most {MAX_QUANTITY}"
            raise RowError("quantity", reason, code=Reason.out_of_range)
        unit_price, discount = _money(row, "unit_price"), _money(row, "discount", "0")
        paid = _money(row, "paid")
        if paid != quantity * unit_price - discount:
            expected = quantity * unit_price - discount
            reason = f"must be quantity × unit_price − discount = {expected} fen"
            raise RowError("paid", reason, code=Reason.paid_mismatch)
        method = cell_text(row.get("payment_method")) or "other"
        method = PAYMENT_NAMES.get(method, method.lower())
        if method not in PaymentMethod.__members__:
            reason = f"unknown payment method {method!r}"
            raise RowError("payment_method", reason, code=Reason.unknown_payment_method)
        category = cell_text(row.get("category_code")) or None
        if category is not None and len(category) > CATEGORY_CODE_LENGTH:
            reason = f"longer than {CATEGORY_CODE_LENGTH} characters"
            raise RowError("category_code", reason, code=Reason.too_long)
        return ParsedLine(sku, name[:200], category, quantity, unit_price, discount, paid, method)

    def order_head(self, number: int, row: dict[str, Any]) -> ParsedOrder:
        external_id = cell_text(row.get("external_id"))
        check_key("external_id", external_id)
        channel = cell_text(row.get("channel")) or OrderChannel.pos.value
        if channel not in OrderChannel.__members__:
            raise RowError("channel", f"one of {', '.join(OrderChannel)}", code=Reason.not_a_choice)
        mobile = cell_text(row.get("mobile"))
        try:
            e164 = normalize_mobile(mobile) if mobile else None
        except PydanticCustomError as exc:
            raise RowError.coded("mobile", exc) from exc
        return ParsedOrder(
            number,
            self.store(cell_text(row.get("store"))),
            external_id,
            _when(row.get("occurred_at")),
            channel,
            mobile=e164,
        )


def group_orders(
    parser: RowParser,
    rows: Iterable[tuple[int, dict[str, Any]]],
    report: OrderImportReport,
    scattered: set[tuple[str, str]],
) -> Iterator[ParsedOrder]:
    """Rows to orders. An order whose rows are not together, or with a bad row, is dropped
    whole, with the reason reported."""
    current: ParsedOrder | None = None
    current_key: tuple[str, str] | None = None
    broken = False
    for number, row in rows:
        report.rows += 1
        key = _order_key(row)
        if key in scattered:
            if key != current_key:
                yield from _complete(current, broken, report)
                current, current_key, broken = None, key, True
                reason = "rows of this order are not together in the file"
                report.errors.append(
                    row_error(number, "external_id", Reason.rows_not_together, reason)
                )
            continue
        if key != current_key:
            yield from _complete(current, broken, report)
            current_key, broken = key, False
            try:
                current = parser.order_head(number, row)
            except RowError as error:
                report.errors.append(error.as_report(number))
                current, broken = None, True
                continue
        try:
            line = parser.line(row)
        except RowError as error:
            report.errors.append(error.as_report(number))
            broken = True
            continue
        if current is not None:
            if sum(ln.paid for ln in current.lines) + line.paid > MAX_FEN:
                reason = f"the order total exceeds {MAX_FEN} fen"
                report.errors.append(
                    row_error(number, "paid", Reason.order_total_too_large, reason)
                )
                broken = True
                continue
            current.lines.append(line)
    yield from _complete(current, broken, report)


def _complete(
    order: ParsedOrder | None, broken: bool, report: OrderImportReport
) -> Iterator[ParsedOrder]:
    """The order, unless a row of it was bad or it sells nothing (live intake refuses both)."""
    if order is None or broken:
        return
    if not any(ln.paid for ln in order.lines):
        report.errors.append(
            row_error(order.first_row, "paid", Reason.order_total_zero, "the order total is 0")
        )
        return
    yield order


def import_orders(
    batches: Batches,
    actor: Actor,
    rows: Iterable[tuple[int, dict[str, Any]]],
    dry_run: bool,
    publish_events: bool = False,
) -> OrderImportReport:
    """Load an order file, `batches.size` orders per transaction. `rows` is read twice
    (`read_rows` gives rows that can be): once to check that the rows of each order are
    together, once to load. An order another import stored first, even one running at the same
    time, counts as already there (`skipped`)."""
    if iter(rows) is rows:  # rows that can be read only once: keep them for both passes
        rows = list(rows)
    report = OrderImportReport(
        dry_run=dry_run, rows=0, orders=0, created=0, skipped=0, lines=0, errors=[]
    )
    orders = group_orders(RowParser(batches.read, actor), rows, report, scattered_orders(rows))
    while batch := list(islice(orders, batches.size)):
        work = partial(_write_batch, batch=batch, dry_run=dry_run, publish_events=publish_events)
        batches.write(work, report.rows).add_to(report)
    if not dry_run:
        batches.write(lambda session: _audit(session, actor, report), report.rows)
    return report


def write_orders(
    session: Session,
    actor: Actor,
    orders: Iterable[ParsedOrder],
    report: OrderImportReport,
    dry_run: bool,
    publish_events: bool = False,
) -> None:
    """Write parsed orders in the caller's transaction, in batches of BATCH_ORDERS."""
    iterator = iter(orders)
    while batch := list(islice(iterator, BATCH_ORDERS)):
        _write_batch(session, batch, dry_run, publish_events).add_to(report)
    if not dry_run:
        _audit(session, actor, report)


def _audit(session: Session, actor: Actor, report: OrderImportReport) -> None:
    audit.record(
        session,
        actor,
        "order.import",
        "order_import",
        clock.now().strftime("%Y%m%dT%H%M%S"),
        after=report.model_dump(include={"rows", "orders", "created", "skipped", "lines"})
        | {"errors": len(report.errors)},
    )


@dataclass
class BatchOutcome:
    """What one batch did, added to the report once its transaction commits (a batch run
    again after losing a race counts once)."""

    orders: int
    created: int = 0
    lines: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)

    def add_to(self, report: OrderImportReport) -> None:
        report.orders += self.orders
        report.created += self.created
        report.skipped += self.orders - self.created
        report.lines += self.lines
        report.errors += self.errors


def _write_batch(
    session: Session, batch: list[ParsedOrder], dry_run: bool, publish_events: bool
) -> BatchOutcome:
    outcome = BatchOutcome(orders=len(batch))
    keys = [(o.store_id, o.external_id) for o in batch]
    found = session.execute(
        select(Order.store_id, Order.external_id).where(
            tuple_(Order.store_id, Order.external_id).in_(keys)
        )
    )
    existing = {(store_id, external_id) for store_id, external_id in found}
    fresh = [o for o in batch if (o.store_id, o.external_id) not in existing]
    mobiles = registry.ids_by_mobile(session, [o.mobile for o in fresh if o.mobile])
    for order in fresh:
        if order.mobile is not None:
            order.member_id = mobiles.get(order.mobile)
            if order.member_id is None:
                reason = "no member with this mobile; order kept without member"
                outcome.errors.append(
                    row_error(order.first_row, "mobile", Reason.order_kept_without_member, reason)
                )
    outcome.created = len(fresh)
    outcome.lines = sum(len(o.lines) for o in fresh)
    if dry_run or not fresh:
        return outcome
    products = catalog.ensure_products(
        session,
        (catalog.LineProduct(ln.sku, ln.name, ln.category_code) for o in fresh for ln in o.lines),
    )
    now = clock.now()
    bulk.insert_rows(
        session,
        ORDERS,
        [
            {
                "store_id": o.store_id,
                "external_id": o.external_id,
                "channel": o.channel,
                "member_id": o.member_id,
                "occurred_at": o.occurred_at,
                "total": sum(ln.paid for ln in o.lines),
                "refunded_amount": 0,
                "status": "completed",
                "created_at": now,
            }
            for o in fresh
        ],
    )
    fresh_keys = [(o.store_id, o.external_id) for o in fresh]
    ids = {
        (store_id, external_id): order_id
        for order_id, store_id, external_id in session.execute(
            select(Order.id, Order.store_id, Order.external_id).where(
                tuple_(Order.store_id, Order.external_id).in_(fresh_keys)
            )
        )
    }
    line_rows, payment_rows = [], []
    for o in fresh:
        order_id = ids[(o.store_id, o.external_id)]
        by_method: dict[str, int] = {}
        for n, ln in enumerate(o.lines, start=1):
            product = products[ln.sku]
            line_rows.append(
                {
                    "order_id": order_id,
                    "line_no": n,
                    "product_id": product.id,
                    "sku": ln.sku,
                    "name": ln.name,
                    "category_id": product.category_id,
                    "quantity": ln.quantity,
                    "unit_price": ln.unit_price,
                    "discount": ln.discount,
                    "paid": ln.paid,
                    "refunded_quantity": 0,
                    "refunded_amount": 0,
                }
            )
            by_method[ln.payment_method] = by_method.get(ln.payment_method, 0) + ln.paid
        payment_rows += [
            {"order_id": order_id, "method": m, "amount": a, "reference": ""}
            for m, a in by_method.items()
            if a > 0
        ]
    bulk.insert_rows(session, LINES, line_rows)
    bulk.insert_rows(session, PAYMENTS, payment_rows)
    if publish_events:
        _publish(session, fresh, ids)
    return outcome


def _publish(session: Session, fresh: list[ParsedOrder], ids: dict[tuple[int, str], int]) -> None:
    order_ids = list(ids.values())
    lines: dict[int, list[dict[str, Any]]] = {}
    for row in session.scalars(
        select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.id)
    ):
        lines.setdefault(row.order_id, []).append({k: getattr(row, k) for k in service.LINE_FIELDS})
    for o in fresh:
        order_id = ids[(o.store_id, o.external_id)]
        payments: dict[str, int] = {}
        for ln in o.lines:
            payments[ln.payment_method] = payments.get(ln.payment_method, 0) + ln.paid
        head = {
            "id": order_id,
            "store_id": o.store_id,
            "member_id": o.member_id,
            "channel": o.channel,
            "occurred_at": o.occurred_at,
            "total": sum(ln.paid for ln in o.lines),
        }
        service.publish_completed(session, head, lines[order_id], list(payments.items()))
