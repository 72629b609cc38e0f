"""收银 (the cashier screen): the member by a scanned code, lines by SKU or barcode, the quote as
the cashier goes, and the sale committed through the checkout service; then a receipt.

The whole screen is one form whose fields hold the sale so far (the lines, the member, the
tenders asked for). Submitting it (Enter anywhere) answers the page again with the member
looked up, the typed line added and a fresh quote; static/checkout.js posts the same form to
`/checkout/till` and swaps in the answer, so that the quote follows every change without a page
load. Committing posts the quote the cashier saw: when the form no longer says what that quote
priced, the screen prices it again instead of committing."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.catalog import service as catalog
from patron.checkout import service as checkout_service
from patron.checkout.errors import QuoteExpired, QuoteNotFound, QuoteStale, QuoteUsed
from patron.checkout.schemas import CommitRequest, QuoteOut, QuoteRequest
from patron.console.choices import store_options
from patron.console.coupon_forms import read_fen
from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_id
from patron.console.i18n import Translator, has_key
from patron.console.message_ids import N_
from patron.console.order_pages import get_order, order_url
from patron.console.stored_value_pages import MEMBER_CODE_LENGTH, find_member
from patron.console.tier_pages import tier_name
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    lang_of,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import NotFound, PatronError
from patron.coupons import holding
from patron.coupons.models import CouponStatus
from patron.members import codes as member_codes
from patron.members import masking, visibility
from patron.members.errors import MemberCodeInvalid
from patron.members.models import Member
from patron.orders import permissions as order_policy
from patron.orders import presenters as order_presenters
from patron.orders.models import OrderChannel, PaymentMethod
from patron.points import accounts as points_accounts
from patron.points import queries as points_queries
from patron.points.models import EntryKind
from patron.stored_value import queries as sv_queries
from patron.stored_value.payments import PASSWORD_DIGITS
from patron.stores import service as stores_service
from patron.stores.models import Store
from patron.tiers import growth, standing

router = APIRouter(prefix="/checkout")
CHECKOUT_URL = f"{PREFIX}/checkout"
# The most lines one sale takes, and the most of one line: a till, not a warehouse.
MAX_LINES = 200
MAX_QUANTITY = 9999
# Shown on the member panel: the coupons the member could hand over.
HELD_COUPONS = 20
# What the points and stored-value inputs take for "as much as may be used".
MAX_WORDS = ("max", "全部", "最多")
# What a cashier records as paid outside Patron.
EXTERNAL_METHODS = (
    PaymentMethod.cash,
    PaymentMethod.wechat_pay,
    PaymentMethod.alipay,
    PaymentMethod.bank_card,
    PaymentMethod.other,
)
# How the member pays from what they hold: the receipt lists them apart from the external.
TENDER_METHODS = (PaymentMethod.points, PaymentMethod.stored_value)

# Words the screen reaches by a code: why a coupon does not apply.
BUILT_IDS = (
    N_("checkout.refusal.unknown_coupon"),
    N_("checkout.refusal.redeemed"),
    N_("checkout.refusal.expired"),
    N_("checkout.refusal.void"),
    N_("checkout.refusal.not_yet_valid"),
    N_("checkout.refusal.other_member"),
    N_("checkout.refusal.no_member"),
    N_("checkout.refusal.store_not_in_scope"),
    N_("checkout.refusal.channel_not_in_scope"),
    N_("checkout.refusal.out_of_scope"),
    N_("checkout.refusal.below_threshold"),
    N_("checkout.refusal.gift_not_on_order"),
    N_("checkout.refusal.no_delivery"),
    N_("checkout.refusal.not_with_tier_discount"),
    N_("checkout.refusal.not_with_points"),
    N_("checkout.refusal.exclusive"),
    N_("checkout.refusal.too_many_coupons"),
    N_("checkout.refusal.repeated"),
    N_("checkout.refusal.amount_too_large"),
    N_("checkout.refusal.amount_mismatch"),
    N_("checkout.refusal.amount_exceeds_discounts"),
)


@dataclass(frozen=True)
class Line:
    """One line as the form holds it: the price only for an SKU the catalog does not know."""

    sku: str
    quantity: int
    typed_price: int | None = None


@dataclass(frozen=True)
class LineView:
    index: int
    sku: str
    name: str
    quantity: int
    unit_price: int
    member_price: int | None
    category_code: str | None
    known: bool
    typed_price: int | None

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class MemberPanel:
    id: int
    name: str
    mobile: str
    tier: str | None
    points: int
    balance: int
    coupons: list[tuple[str, str]]


@dataclass
class Sale:
    """What the form says: the sale so far, and what the cashier just typed."""

    sale_no: str
    store_id: int | None
    member_id: int | None
    member_code: str
    lines: list[Line]
    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    # 409 when the screen priced the sale again instead of committing it.
    status: int = 422
    # The input the cursor goes to when the screen answers.
    focus: str = "scan"


def new_sale_no() -> str:
    """The receipt number of a sale (the order's external id), fixed when the screen opens so
    that committing the same screen twice is one order."""
    return f"T{clock.today():%y%m%d}-{secrets.token_hex(4).upper()}"


@router.get("")
def screen(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, order_policy.RECORD)
    stores = store_options(session, actor)
    sale = Sale(
        sale_no=new_sale_no(),
        store_id=stores[0].id if len(stores) == 1 else None,
        member_id=None,
        member_code="",
        lines=[],
        values={"method": PaymentMethod.cash.value, "coupon_auto": "1"},
    )
    return _page(request, session, actor, sale, stores)


@router.post("")
def update(request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> Response:
    """The screen again after the cashier pressed Enter (without the script, the whole page),
    or the sale committed: then its receipt."""
    require_console(actor, order_policy.RECORD)
    stores = store_options(session, actor)
    sale = read_sale(session, actor, form, t_for(request), stores)
    if text(form, "action") == "commit" and not (sale.problems or sale.message):
        return _commit(request, session, actor, form, sale, stores)
    return _page(request, session, actor, sale, stores)


def _commit(
    request: Request,
    session: Session,
    actor: Actor,
    form: FormData,
    sale: Sale,
    stores: Sequence[Store],
) -> Response:
    """Commit the quote the cashier saw, if the form still says what it priced; else price the
    sale again and show it. A refused commit is said on the screen, the sale kept."""
    t = t_for(request)
    asked = quote_request(sale, line_views(session, sale.lines), t)
    quote_id = text(form, "quote_id")
    if asked is None or not quote_id or digest(asked) != text(form, "quoted"):
        sale.message, sale.status = t("checkout.requoted"), 409
        return _page(request, session, actor, sale, stores)
    try:
        with attempt(session):
            shown = checkout_service.get_quote(session, actor, quote_id)
            data = CommitRequest.model_validate(_commit_body(session, sale, shown))
            checkout_service.commit(session, actor, data)
    except QuoteUsed:
        # Committed already (the same screen sent twice): its receipt.
        return redirect(receipt_url(quote_id))
    except (QuoteExpired, QuoteStale, QuoteNotFound) as error:
        key = "checkout.requoted" if isinstance(error, QuoteExpired) else f"error.{error.code}"
        sale.message, sale.status = t(key), 409
        return _page(request, session, actor, sale, stores)
    except (ValidationError, PatronError) as error:
        _refused(sale, error, t)
        return _page(request, session, actor, sale, stores)
    return redirect(receipt_url(quote_id), "flash.checkout_committed", t.yuan(shown.total))


def _commit_body(session: Session, sale: Sale, shown: QuoteOut) -> dict[str, Any]:
    """The commit of the quote shown: the rest paid by the method chosen, and the member's
    proof for stored value."""
    method = sale.values.get("method") or PaymentMethod.cash.value
    payments = (
        [{"method": method, "amount": shown.amount_due, "reference": sale.values["reference"]}]
        if shown.amount_due
        else []
    )
    body: dict[str, Any] = {
        "quote_id": shown.quote_id,
        "external_id": sale.sale_no,
        "payments": payments,
    }
    if shown.stored_value_used and not shown.verified:
        proof = _proof(session, sale)
        if proof:
            body["verification"] = proof
    return body


def _proof(session: Session, sale: Sale) -> dict[str, str] | None:
    """What the member typed (a 6-digit password, else a fresh code), else the code they
    showed when scanned while it is still valid: an expired one would count as a wrong answer
    toward the lock-out, so the member is asked instead."""
    typed = sale.values.get("sv_verify", "")
    if typed:
        return {"password" if len(typed) == PASSWORD_DIGITS else "member_code": typed}
    if not sale.member_code:
        return None
    try:
        member_codes.resolve_code(session, sale.member_code)
    except MemberCodeInvalid:
        return None
    return {"member_code": sale.member_code}


def receipt_url(quote_id: str) -> str:
    return f"{CHECKOUT_URL}/receipts/{quote_id}"


@dataclass(frozen=True)
class Earned:
    points: int
    growth: int


@router.get("/receipts/{quote_id}")
def receipt(request: Request, quote_id: str, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    """The sale as committed, to print: what each line cost, what was saved, how it was paid
    and what it earned."""
    with error_page_on(QuoteNotFound):
        quote = checkout_service.get_quote(session, actor, quote_id)
    if quote.order_id is None:
        raise ErrorPage(404)
    order = get_order(session, actor, quote.order_id)
    shown = order_presenters.present(session, order)
    with error_page_on(NotFound):
        store = stores_service.get_store(session, actor, order.store_id)
    member = (
        member_panel(session, actor, quote.member_id, lang_of(request)) if quote.member_id else None
    )
    earned = Earned(
        points=points_accounts.order_sum(session, order.id, EntryKind.earn),
        growth=growth.of_order(session, order.id).earned,
    )
    return render(
        request,
        "checkout/receipt.html",
        quote=quote,
        order=shown,
        store=store,
        member=member,
        earned=earned,
        external=[p for p in shown.payments if p.method not in TENDER_METHODS],
        applied=[c for c in quote.coupons if c.applied],
        order_url=order_url(order.id),
    )


@router.post("/till")
def till(request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> HTMLResponse:
    """The form's inside alone, for the script to swap in."""
    require_console(actor, order_policy.RECORD)
    stores = store_options(session, actor)
    sale = read_sale(session, actor, form, t_for(request), stores)
    context = _context(request, session, actor, sale, stores)
    return render(request, "checkout/_till.html", status=context["errors"].status, **context)


def read_sale(
    session: Session, actor: Actor, form: FormData, t: Translator, stores: Sequence[Store]
) -> Sale:
    names = ("sale_no", "scan", "new_sku", "new_qty", "new_price", "points", "stored_value")
    values = {name: text(form, name) for name in names}
    values |= {name: text(form, name) for name in ("sv_verify", "method", "reference")}
    values["coupon_auto"] = "1" if text(form, "coupon_auto") else ""
    allowed = {store.id for store in stores}
    store_id = parse_id(text(form, "store_id"))
    lines, odd = _lines(form)
    sale = Sale(
        sale_no=values["sale_no"] or new_sale_no(),
        store_id=store_id if store_id in allowed else None,
        member_id=parse_id(text(form, "member_id")),
        member_code=text(form, "member_code"),
        lines=lines,
        values=values,
    )
    if odd:
        sale.message = t("checkout.line.quantity")
    sale.values["coupons"] = ",".join(c for c in form.getlist("coupon") if isinstance(c, str) and c)
    removed = parse_id(text(form, "remove"))
    if removed is not None and removed < len(sale.lines):
        del sale.lines[removed]
    if values["scan"]:
        _scan(session, actor, sale, t)
    if values["new_sku"]:
        _add_line(session, sale, t)
    if sale.store_id is None and stores:
        sale.problems["store_id"] = t("invalid.missing")
    if sale.focus == "scan" and (sale.member_id or sale.lines):
        sale.focus = "new_sku"
    return sale


def _lines(form: FormData) -> tuple[list[Line], bool]:
    """The lines the form holds, and whether a quantity typed in one was not a number (that
    line keeps one)."""
    skus, quantities, prices = (
        [str(v) for v in form.getlist(name)] for name in ("line_sku", "line_qty", "line_price")
    )
    lines = []
    odd = False
    for sku, qty, price in zip(skus, quantities, prices, strict=False):
        quantity = parse_id(qty)
        # A quantity typed down to 0 removes the line.
        if quantity == 0 or not sku.strip():
            continue
        odd = odd or quantity is None
        lines.append(Line(sku.strip(), min(quantity or 1, MAX_QUANTITY), parse_id(price)))
    return lines[:MAX_LINES], odd


def _scan(session: Session, actor: Actor, sale: Sale, t: Translator) -> None:
    """A member code scanned (or a mobile typed) names the member of the sale."""
    typed = sale.values["scan"]
    try:
        member = find_member(session, actor, typed)
    except ValueError:
        member = None
    if member is None:
        sale.problems["scan"] = t("checkout.member.not_found")
        return
    if member.id != sale.member_id:
        # Another member: the coupons chosen were the last one's.
        sale.values["coupons"] = ""
        sale.values["coupon_auto"] = "1"
    sale.member_id = member.id
    # The code the member showed pays from their stored value too, once.
    is_code = len(typed) == MEMBER_CODE_LENGTH and typed.isdigit()
    sale.member_code = typed if is_code else ""
    sale.values["scan"] = ""
    sale.focus = "new_sku"


def _add_line(session: Session, sale: Sale, t: Translator) -> None:
    """The SKU (or barcode) typed with its quantity: the catalog's price, or the price typed
    for an SKU the catalog does not know (the POS's catalogue leads)."""
    sku = sale.values["new_sku"]
    quantity = parse_id(sale.values["new_qty"] or "1")
    sale.focus = "new_sku"
    if quantity is None or not 0 < quantity <= MAX_QUANTITY:
        sale.problems["new_qty"] = t("checkout.line.quantity")
        sale.focus = "new_qty"
        return
    typed_price = read_fen(sale.values, "new_price", sale.problems, t)
    if "new_price" in sale.problems or (typed_price is not None and typed_price < 0):
        sale.problems["new_price"] = t("reason.amount")
        sale.focus = "new_price"
        return
    known = sku in catalog.products_by_sku(session, [sku])
    if not known and typed_price is None:
        sale.problems["new_price"] = t("checkout.line.price_needed")
        sale.focus = "new_price"
        return
    if len(sale.lines) >= MAX_LINES:
        sale.problems["new_sku"] = t("checkout.line.too_many", count=MAX_LINES)
        return
    price = None if known else typed_price
    for index, line in enumerate(sale.lines):
        if line.sku == sku and line.typed_price == price:
            sale.lines[index] = Line(sku, min(line.quantity + quantity, MAX_QUANTITY), price)
            break
    else:
        sale.lines.append(Line(sku, quantity, price))
    for name in ("new_sku", "new_qty", "new_price"):
        sale.values[name] = ""


def line_views(session: Session, lines: Sequence[Line]) -> list[LineView]:
    """The lines with the catalog's names and prices, in one query for the products."""
    products = catalog.products_by_sku(session, [line.sku for line in lines])
    codes = catalog.category_codes(session, (p.category_id for p in products.values()))
    views = []
    for index, line in enumerate(lines):
        product = products.get(line.sku)
        views.append(
            LineView(
                index=index,
                sku=line.sku,
                name=product.name if product else line.sku,
                quantity=line.quantity,
                unit_price=product.list_price if product else line.typed_price or 0,
                member_price=product.member_price if product else None,
                category_code=codes.get(product.category_id or 0) if product else None,
                known=product is not None,
                typed_price=None if product else line.typed_price,
            )
        )
    return views


def member_panel(session: Session, actor: Actor, member_id: int, lang: str) -> MemberPanel | None:
    """The member as a till may show them: masked, with what they can spend."""
    try:
        member: Member = visibility.get_active_member(session, actor, member_id)
    except NotFound:
        return None
    rung = standing.current_tier(session, member.id)
    held = holding.member_coupons(session, member.id, CouponStatus.available, None, HELD_COUPONS)
    templates = holding.templates_of(session, list(held.items))
    sv = sv_queries.balance(session, member.id)
    return MemberPanel(
        id=member.id,
        name=masking.mask_name(member.name) if member.name else "",
        mobile=masking.mask_mobile(member.mobile) if member.mobile else "",
        tier=tier_name(rung, lang) if rung else None,
        points=points_queries.balance(session, member.id).available,
        balance=sv.principal + sv.bonus,
        coupons=[(c.code, templates[c.template_id].name) for c in held.items],
    )


# --- the quote ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CouponRow:
    code: str
    name: str
    chosen: bool
    discount: int = 0
    # Why the quote does not use it, in the console's words.
    reason: str = ""


@dataclass(frozen=True)
class Priced:
    """The quote of the sale as the form says it, or why there is none."""

    quote: QuoteOut | None
    # A digest of what was priced: a commit of another sale than the one shown prices again.
    digest: str = ""


def quote_request(sale: Sale, lines: Sequence[LineView], t: Translator) -> dict[str, Any] | None:
    """The QuoteRequest of the sale; None when it has nothing to price or an input does not
    read (noted in the sale's problems)."""
    points = _wanted(sale, "points", t)
    stored = _wanted(sale, "stored_value", t)
    if not lines or sale.store_id is None or points is None or stored is None:
        return None
    auto = bool(sale.values.get("coupon_auto"))
    chosen = [c for c in sale.values.get("coupons", "").split(",") if c]
    return {
        "store_id": sale.store_id,
        "channel": OrderChannel.pos.value,
        "member_id": sale.member_id,
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "category_code": line.category_code,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "member_price": line.member_price,
            }
            for line in lines
        ],
        "coupon_codes": ("auto" if auto else chosen) if sale.member_id else [],
        "points": points if sale.member_id else 0,
        "stored_value": stored if sale.member_id else 0,
    }


def _wanted(sale: Sale, name: str, t: Translator) -> int | str | None:
    """Points or stored value asked for: a number (points; yuan for stored value), "max", or
    nothing (0); None when the input does not read."""
    raw = sale.values.get(name, "").strip().lower()
    if raw in ("", "0"):
        return 0
    if raw in MAX_WORDS:
        return "max"
    if name == "points":
        number = parse_id(raw)
        if number is None:
            sale.problems[name] = t("refund.whole_number")
        return number
    fen = read_fen(sale.values, name, sale.problems, t)
    if fen is not None and fen < 0:
        sale.problems[name] = t("reason.amount")
        return None
    return fen


def digest(request: dict[str, Any]) -> str:
    raw = json.dumps(request, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def price_sale(
    session: Session, actor: Actor, sale: Sale, lines: Sequence[LineView], t: Translator
) -> Priced:
    request = quote_request(sale, lines, t)
    if request is None or sale.problems:
        return Priced(None)
    try:
        data = QuoteRequest.model_validate(request)
        with attempt(session):
            quote = checkout_service.quote(session, actor, data)
    except (ValidationError, PatronError) as error:
        _refused(sale, error, t)
        return Priced(None)
    return Priced(quote, digest(request))


# Where a refusal of the quote or the commit is said: the input it is about.
REFUSAL_FIELDS = {
    "insufficient_points": "points",
    "below_min_burn": "points",
    "exceeds_order_share": "points",
    "points_not_whole_fen": "points",
    "exceeds_points_cap": "points",
    "exceeds_category_cap": "points",
    "points_not_with_coupons": "points",
    "points_need_member": "points",
    "insufficient_balance": "stored_value",
    "verification_required": "sv_verify",
    "verification_failed": "sv_verify",
    "member_code_used": "sv_verify",
    "stored_value_locked": "sv_verify",
    "unknown_member": "scan",
}


def _refused(sale: Sale, error: ValidationError | PatronError, t: Translator) -> None:
    """The refusal beside the input it is about; else above the screen."""
    code = error.code if isinstance(error, PatronError) else ""
    if code in REFUSAL_FIELDS:
        key = f"error.{code}"
        name = REFUSAL_FIELDS[code]
        sale.problems[name] = t(key) if has_key(key) else str(error)
        sale.focus = name
        return
    errors = form_errors(error, t)
    for field_name, message in errors.fields.items():
        name = FIELD_OF.get(field_name, field_name)
        if name in SHOWN_FIELDS:
            sale.problems[name] = message
        else:
            sale.message = message
    if not errors.fields:
        sale.message = " ".join(part for part in (errors.message, errors.detail) if part)


# The quote's fields that the screen shows as one of its own inputs, and those inputs.
FIELD_OF = {"member_id": "scan", "lines": "new_sku", "coupon_codes": "coupon_auto"}
SHOWN_FIELDS = frozenset(
    ("scan", "new_sku", "new_qty", "new_price", "points", "stored_value", "sv_verify", "store_id")
)


def coupon_rows(
    member: MemberPanel | None, sale: Sale, quote: QuoteOut | None, t: Translator
) -> list[CouponRow]:
    """The member's coupons with what the quote made of each: taken off, or why not."""
    if member is None:
        return []
    chosen = set(sale.values.get("coupons", "").split(","))
    offers = {o.code: o for o in quote.coupons} if quote else {}
    names = dict(member.coupons)
    codes = list(dict.fromkeys([*names, *offers]))
    rows = []
    for code in codes:
        offer = offers.get(code)
        rows.append(
            CouponRow(
                code=code,
                name=names.get(code, code),
                chosen=offer.applied if offer else code in chosen,
                discount=offer.discount if offer else 0,
                reason=t(f"checkout.refusal.{offer.reason}")
                if offer and offer.reason and has_key(f"checkout.refusal.{offer.reason}")
                else (offer.reason or "" if offer else ""),
            )
        )
    return rows


def earn_text(quote: QuoteOut, t: Translator) -> str:
    earn = quote.earn
    parts = [t("checkout.earn.points", points=t.num(earn.points))]
    if earn.growth:
        parts.append(t("checkout.earn.growth", growth=t.num(earn.growth)))
    if earn.tier_upgrade:
        parts.append(t("checkout.earn.upgrade", tier=earn.tier_upgrade.name))
    return t("list.sep").join(parts)


def _context(
    request: Request, session: Session, actor: Actor, sale: Sale, stores: Sequence[Store]
) -> dict[str, Any]:
    t = t_for(request)
    member = (
        member_panel(session, actor, sale.member_id, lang_of(request)) if sale.member_id else None
    )
    if sale.member_id and member is None:
        sale.problems["scan"] = t("checkout.member.not_found")
        sale.member_id = None
    lines = line_views(session, sale.lines)
    priced = price_sale(session, actor, sale, lines, t)
    errors = (
        FormErrors(
            message=sale.message or t("error.form"),
            fields=dict(sale.problems),
            status=sale.status,
        )
        if sale.problems or sale.message
        else NO_ERRORS
    )
    quote = priced.quote
    return {
        "here": CHECKOUT_URL,
        "sale": sale,
        "values": sale.values,
        "errors": errors,
        "stores": stores,
        "member": member,
        "lines": lines,
        "subtotal": sum(line.amount for line in lines),
        "methods": EXTERNAL_METHODS,
        "quote": quote,
        "quoted": priced.digest,
        "coupon_rows": coupon_rows(member, sale, quote, t),
        "earn_text": earn_text(quote, t) if quote else "",
    }


def _page(
    request: Request, session: Session, actor: Actor, sale: Sale, stores: Sequence[Store]
) -> HTMLResponse:
    context = _context(request, session, actor, sale, stores)
    return render(request, "checkout/screen.html", status=context["errors"].status, **context)
