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
from functools import lru_cache, partial
from itertools import islice
from typing import Any, cast

from pydantic_core import PydanticCustomError
from sqlalchemy import Table, select, text, tuple_
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.catalog import service as catalog
from patron.catalog.schemas import CATEGORY_CODE_LENGTH
from patron.core import bulk, clock, events
from patron.core.actor import Actor
from patron.core.batches import Batches, Lookups, ahead
from patron.core.crypto import blind_index
from patron.core.errors import InvalidInput
from patron.core.money import MAX_FEN, yuan_to_fen
from patron.core.reasons import Reason
from patron.core.tabular import (
    DEFAULT_LIMITS,
    FileLimits,
    RefusedCell,
    RowError,
    check_key,
    read_records,
    record_text,
    row_error,
)
from patron.members import registry
from patron.members.models import Member, MemberStatus
from patron.members.schemas import normalize_mobile
from patron.orders import service
from patron.orders.models import (
    Order,
    OrderChannel,
    OrderLine,
    OrderPayment,
    OrderStatus,
    PaymentMethod,
)
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


# The fields of a row, in the order `read_records` gives them.
FIELDS = (
    "store", "external_id", "occurred_at", "channel", "mobile", "sku", "name", "category_code",
    "quantity", "unit_price", "discount", "paid", "payment_method",
)  # fmt: skip
(
    STORE, EXTERNAL_ID, OCCURRED_AT, CHANNEL, MOBILE, SKU, NAME, CATEGORY_CODE,
    QUANTITY, UNIT_PRICE, DISCOUNT, PAID, PAYMENT_METHOD,
) = range(len(FIELDS))  # fmt: skip
Row = tuple[Any, ...]


@dataclass(frozen=True)
class OrderRows:
    """The rows of an order file, each a tuple of FIELDS, readable more than once: the import
    checks first that the rows of each order are together, then reads them again to load."""

    content: bytes
    filename: str
    limits: FileLimits

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        return read_records(self.content, self.filename, HEADERS, FIELDS, REQUIRED, self.limits)


def read_rows(content: bytes, filename: str, limits: FileLimits = DEFAULT_LIMITS) -> OrderRows:
    return OrderRows(content, filename, limits)


def _order_key(row: Row) -> tuple[str, str]:
    try:
        return record_text(row[STORE]), record_text(row[EXTERNAL_ID])
    except RefusedCell as refused:  # keyed by the text as sent; its order's head reports it
        return refused.field_name, refused.value


def scattered_orders(rows: Iterable[tuple[int, Row]]) -> set[tuple[str, str]]:
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


@dataclass(slots=True)
class ParsedLine:
    sku: str
    name: str
    category_code: str | None
    quantity: int
    unit_price: int
    discount: int
    paid: int
    payment_method: str


@dataclass(slots=True)
class ParsedOrder:
    first_row: int
    store_id: int
    external_id: str
    occurred_at: datetime
    channel: str
    member_id: int | None = None
    mobile: str | None = None
    lines: list[ParsedLine] = field(default_factory=list)


@lru_cache(maxsize=4096)
def _fen(text: str) -> int:
    """An amount's text in fen (prices repeat: each is read once)."""
    return yuan_to_fen(text)


def _money(row: Row, index: int, default: str = "") -> int:
    text = record_text(row[index]) or default
    try:
        amount = _fen(text)
    except ValueError as exc:
        raise RowError(FIELDS[index], str(exc), code=Reason.not_an_amount) from exc
    if not 0 <= amount <= MAX_FEN:
        reason = f"negative or above {MAX_FEN} fen"
        raise RowError(FIELDS[index], reason, code=Reason.out_of_range)
    return amount


def _when(value: Any, latest: datetime) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(record_text(value).replace("/", "-"))
        except ValueError as exc:
            reason = f"not a date-time: {record_text(value)!r}"
            raise RowError("occurred_at", reason, code=Reason.not_a_datetime) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.business_tz())
    try:
        check_occurred_at(moment)
    except PydanticCustomError as exc:
        raise RowError.coded("occurred_at", exc) from exc
    if moment > latest:
        raise RowError("occurred_at", "is in the future", code=Reason.in_future)
    return moment


def _payment_method(text: str) -> str:
    """The row's payment method. Not points: a points payment is a burn of the member's
    points, and history's burns happened in the system it comes from (whose balances are
    imported as they are now); a row paid by points is refused, and may be loaded as 其他."""
    method = PAYMENT_NAMES.get(text, text.lower()) if text else "other"
    if method not in PaymentMethod.__members__:
        reason = f"unknown payment method {method!r}"
        raise RowError("payment_method", reason, code=Reason.unknown_payment_method)
    if method == PaymentMethod.points:
        reason = "imported history cannot burn points: load the row's payment as 其他 (other)"
        raise RowError("payment_method", reason, code=Reason.points_not_imported)
    return method


class RowParser:
    """Rows to orders; a store code is looked up once, in a short transaction of its own
    (`lookups`), so that reading the file holds no lock."""

    def __init__(self, lookups: Lookups, actor: Actor) -> None:
        self.lookups, self.actor = lookups, actor
        self._stores: dict[str, int | None] = {}
        self._latest = clock.now() + service.CLOCK_SKEW

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

    def line(self, row: Row) -> ParsedLine:
        sku, name = record_text(row[SKU]), record_text(row[NAME])
        check_key("sku", sku)
        if not name:
            raise RowError("name", "missing", code=Reason.missing)
        try:
            quantity = int(record_text(row[QUANTITY]))
        except ValueError as exc:
            raise RowError(
                "quantity", "not a whole number", code=Reason.not_a_whole_number
            ) from exc
        if not 0 < quantity <= MAX_QUANTITY:
            reason = f"must be positive and at most {MAX_QUANTITY}"
            raise RowError("quantity", reason, code=Reason.out_of_range)
        unit_price, discount = _money(row, UNIT_PRICE), _money(row, DISCOUNT, "0")
        paid = _money(row, PAID)
        if paid != quantity * unit_price - discount:
            expected = quantity * unit_price - discount
            reason = f"must be quantity × unit_price − discount = {expected} fen"
            raise RowError("paid", reason, code=Reason.paid_mismatch)
        method = _payment_method(record_text(row[PAYMENT_METHOD]))
        category = record_text(row[CATEGORY_CODE]) or None
        if category is not None and len(category) > CATEGORY_CODE_LENGTH:
            reason = f"longer than {CATEGORY_CODE_LENGTH} characters"
            raise RowError("category_code", reason, code=Reason.too_long)
        return ParsedLine(sku, name[:200], category, quantity, unit_price, discount, paid, method)

    def order_head(self, number: int, row: Row) -> ParsedOrder:
        external_id = record_text(row[EXTERNAL_ID])
        check_key("external_id", external_id)
        channel = record_text(row[CHANNEL]) or OrderChannel.pos.value
        if channel not in OrderChannel.__members__:
            raise RowError("channel", f"one of {', '.join(OrderChannel)}", code=Reason.not_a_choice)
        mobile = record_text(row[MOBILE])
        try:
            e164 = normalize_mobile(mobile) if mobile else None
        except PydanticCustomError as exc:
            raise RowError.coded("mobile", exc) from exc
        return ParsedOrder(
            number,
            self.store(record_text(row[STORE])),
            external_id,
            _when(row[OCCURRED_AT], self._latest),
            channel,
            mobile=e164,
        )


@dataclass
class Tally:
    """Rows read so far, and the errors found in them not yet reported."""

    rows: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)

    def take_errors(self) -> list[dict[str, object]]:
        errors, self.errors = self.errors, []
        return errors


def group_orders(
    parser: RowParser,
    rows: Iterable[tuple[int, Row]],
    scattered: set[tuple[str, str]],
    tally: Tally,
) -> Iterator[ParsedOrder]:
    """Rows to orders. An order whose rows are not together, or with a bad row, is dropped
    whole, with the reason in `tally.errors`."""
    current: ParsedOrder | None = None
    current_key: tuple[str, str] | None = None
    broken = False
    total = 0
    for number, row in rows:
        tally.rows += 1
        key = _order_key(row)
        if key != current_key:
            yield from _complete(current, broken, total, tally)
            current, current_key, broken, total = None, key, False, 0
            if key in scattered:
                broken = True
                reason = "rows of this order are not together in the file"
                tally.errors.append(
                    row_error(number, "external_id", Reason.rows_not_together, reason)
                )
                continue
            try:
                current = parser.order_head(number, row)
            except RowError as error:
                tally.errors.append(error.as_report(number))
                broken = True
                continue
        elif key in scattered:
            continue
        try:
            line = parser.line(row)
        except RowError as error:
            tally.errors.append(error.as_report(number))
            broken = True
            continue
        if current is not None:
            if total + line.paid > MAX_FEN:
                reason = f"the order total exceeds {MAX_FEN} fen"
                tally.errors.append(row_error(number, "paid", Reason.order_total_too_large, reason))
                broken = True
                continue
            total += line.paid
            current.lines.append(line)
    yield from _complete(current, broken, total, tally)


@dataclass
class ParsedBatch:
    """Orders to write in one transaction; the errors of the rows read up to them; how many
    rows that is."""

    orders: list[ParsedOrder]
    errors: list[dict[str, object]]
    rows: int


def parsed_batches(
    parser: RowParser, rows: Iterable[tuple[int, Row]], size: int
) -> Iterator[ParsedBatch]:
    """The file's orders, `size` at a time; a last batch without orders carries the errors of
    the rows after the last order."""
    tally = Tally()
    orders = group_orders(parser, rows, scattered_orders(rows), tally)
    while batch := list(islice(orders, size)):
        yield ParsedBatch(batch, tally.take_errors(), tally.rows)
    yield ParsedBatch([], tally.take_errors(), tally.rows)


def _complete(
    order: ParsedOrder | None, broken: bool, total: int, tally: Tally
) -> Iterator[ParsedOrder]:
    """The order, unless a row of it was bad or it sells nothing (live intake refuses both)."""
    if order is None or broken:
        return
    if not total:
        tally.errors.append(
            row_error(order.first_row, "paid", Reason.order_total_zero, "the order total is 0")
        )
        return
    yield order


def import_orders(
    batches: Batches,
    actor: Actor,
    rows: Iterable[tuple[int, Row]],
    dry_run: bool,
    publish_events: bool = False,
) -> OrderImportReport:
    """Load an order file, `batches.size` orders per transaction. `rows` is read twice
    (`read_rows` gives rows that can be): once to check that the rows of each order are
    together, once to load; the next batch is read while one is written. An order another
    import stored first, even one running at the same time, counts as already there
    (`skipped`)."""
    if iter(rows) is rows:  # rows that can be read only once: keep them for both passes
        rows = list(rows)
    report = OrderImportReport(
        dry_run=dry_run, rows=0, orders=0, created=0, skipped=0, lines=0, errors=[]
    )
    parser = RowParser(batches.read, actor)
    with ahead(parsed_batches(parser, rows, batches.size)) as parsed:
        for batch in parsed:
            report.rows = batch.rows
            report.errors += batch.errors
            if batch.orders:
                work = partial(
                    _write_batch, batch=batch.orders, dry_run=dry_run, publish_events=publish_events
                )
                batches.write(work, batch.rows).add_to(report)
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
    existing = _existing(session, batch)
    fresh = [o for o in batch if (o.store_id, o.external_id) not in existing]
    members = _members_by_mobile(session, {o.mobile for o in fresh if o.mobile})
    for order in fresh:
        if order.mobile is not None:
            order.member_id = members.get(order.mobile)
            if order.member_id is None:
                reason = "no member with this mobile; order kept without member"
                outcome.errors.append(
                    row_error(order.first_row, "mobile", Reason.order_kept_without_member, reason)
                )
    outcome.created = len(fresh)
    outcome.lines = sum(len(o.lines) for o in fresh)
    if dry_run or not fresh:
        return outcome
    ids = _insert_orders(session, fresh)
    _insert_lines(session, fresh, ids)
    if publish_events:
        _publish(
            session,
            fresh,
            dict(zip(((o.store_id, o.external_id) for o in fresh), ids, strict=True)),
        )
    return outcome


def _existing(session: Session, batch: list[ParsedOrder]) -> set[tuple[int, str]]:
    """The (store, external id) of the batch's orders already stored."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(
            EXISTING,
            {"stores": [o.store_id for o in batch], "ids": [o.external_id for o in batch]},
        )
    else:
        keys = [(o.store_id, o.external_id) for o in batch]
        found = session.execute(
            select(Order.store_id, Order.external_id).where(
                tuple_(Order.store_id, Order.external_id).in_(keys)
            )
        )
    return {(store_id, external_id) for store_id, external_id in found}


EXISTING = text(
    "SELECT o.store_id, o.external_id FROM orders o"
    " JOIN unnest(CAST(:stores AS integer[]), CAST(:ids AS varchar[])) AS k(store_id, external_id)"
    " ON o.store_id = k.store_id AND o.external_id = k.external_id"
)


def _members_by_mobile(session: Session, mobiles: set[str]) -> dict[str, int]:
    """Active members' ids by E.164 mobile. A mobile of a merged or erased member goes to
    `registry.ids_by_mobile`, which follows merges; the others are read as plain columns."""
    if not mobiles:
        return {}
    by_hash = {blind_index("mobile", m): m for m in mobiles}
    found: dict[str, int] = {}
    others: list[str] = []
    rows = session.execute(
        select(Member.mobile_hash, Member.id, Member.status, Member.merged_into_id).where(
            bulk.any_of(session, Member.mobile_hash, list(by_hash))
        )
    )
    for mobile_hash, member_id, status, merged_into_id in rows:
        mobile = by_hash[mobile_hash or ""]
        if status == MemberStatus.active and merged_into_id is None:
            found[mobile] = member_id
        else:
            others.append(mobile)
    return found | registry.ids_by_mobile(session, others) if others else found


def _insert_orders(session: Session, fresh: list[ParsedOrder]) -> list[int]:
    """The orders inserted, with ids reserved for them first: no read back."""
    ids = bulk.reserve_ids(session, ORDERS, len(fresh))
    now = clock.now()
    bulk.copy_rows(
        session,
        ORDERS,
        ORDER_COLUMNS,
        [
            (
                order_id,
                o.store_id,
                o.external_id,
                o.channel,
                o.member_id,
                o.occurred_at,
                sum([ln.paid for ln in o.lines]),
                0,
                OrderStatus.completed.value,
                now,
            )
            for order_id, o in zip(ids, fresh, strict=True)
        ],
    )
    return ids


ORDER_COLUMNS = (
    "id", "store_id", "external_id", "channel", "member_id", "occurred_at", "total",
    "refunded_amount", "status", "created_at",
)  # fmt: skip
LINE_COLUMNS = (
    "order_id", "line_no", "product_id", "sku", "name", "category_id", "quantity", "unit_price",
    "discount", "paid", "refunded_quantity", "refunded_amount", "member_id", "occurred_at",
)  # fmt: skip
PAYMENT_COLUMNS = ("order_id", "method", "amount", "reference")


def _insert_lines(session: Session, fresh: list[ParsedOrder], ids: list[int]) -> None:
    """The orders' lines, their products from the catalog (created when new), and payments:
    one per method an order's lines were paid with."""
    products = {
        sku: (product.id, product.category_id)
        for sku, product in catalog.ensure_products(
            session,
            {
                ln.sku: catalog.LineProduct(ln.sku, ln.name, ln.category_code)
                for o in fresh
                for ln in o.lines
            }.values(),
        ).items()
    }
    line_rows, payment_rows = [], []
    for order_id, o in zip(ids, fresh, strict=True):
        by_method: dict[str, int] = {}
        for n, ln in enumerate(o.lines, start=1):
            product_id, category_id = products[ln.sku]
            line_rows.append(
                (
                    order_id,
                    n,
                    product_id,
                    ln.sku,
                    ln.name,
                    category_id,
                    ln.quantity,
                    ln.unit_price,
                    ln.discount,
                    ln.paid,
                    0,
                    0,
                    o.member_id,
                    o.occurred_at,
                )  # fmt: skip
            )
            by_method[ln.payment_method] = by_method.get(ln.payment_method, 0) + ln.paid
        payment_rows += [(order_id, m, a, "") for m, a in by_method.items() if a > 0]
    bulk.copy_rows(session, LINES, LINE_COLUMNS, line_rows)
    bulk.copy_rows(session, PAYMENTS, PAYMENT_COLUMNS, payment_rows)


def _publish(session: Session, fresh: list[ParsedOrder], ids: dict[tuple[int, str], int]) -> None:
    order_ids = list(ids.values())
    lines: dict[int, list[dict[str, Any]]] = {}
    for row in session.scalars(
        select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.id)
    ):
        lines.setdefault(row.order_id, []).append({k: getattr(row, k) for k in service.LINE_FIELDS})
    with events.batched(session):  # the batch's events in one statement
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
