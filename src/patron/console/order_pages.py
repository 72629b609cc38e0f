"""Orders: the list with filters, one order with its lines, payments and refunds, refunding it,
and importing order history."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.choices import store_options
from patron.console.forms import (
    NO_ERRORS,
    FormErrors,
    day_start,
    form_errors,
    parse_enum,
    parse_id,
)
from patron.console.i18n import Translator
from patron.console.uploads import (
    ImportScreen,
)
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import idempotency
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.imports.models import ImportKind
from patron.members import masking, registry
from patron.orders import importer
from patron.orders import permissions as order_policy
from patron.orders import presenters as order_presenters
from patron.orders import service as orders
from patron.orders.models import Order, OrderChannel, OrderStatus
from patron.orders.schemas import OrderImportReport, OrderOut, RefundCreate
from patron.stores import service as stores

router = APIRouter(prefix="/orders")
PAGE_SIZE = 20
LIST_URL = f"{PREFIX}/orders"
# The refund form: a quantity input per line, and the one-time key that makes a second
# submission of the same form replay the first instead of refunding twice.
QTY_PREFIX = "qty."
KEY_FIELD = "refund_key"


def order_url(order_id: int) -> str:
    return f"{LIST_URL}/{order_id}"


def get_order(session: Session, actor: Actor, order_id: int) -> Order:
    with error_page_on(NotFound):
        order = orders.get_order(session, actor, order_id)
    return order


# --- members shown beside orders --------------------------------------------------------------


@dataclass(frozen=True)
class MemberRef:
    id: int
    # Masked, as every list shows a member.
    name: str | None
    # Whether the member falls in the viewer's scope, so that their page opens.
    linked: bool


def member_refs(
    session: Session, actor: Actor, member_ids: Iterable[int | None]
) -> dict[int, MemberRef]:
    """The members of a page of orders, in one query: a masked name, and a link only where the
    viewer may open the member."""
    found = registry.members_by_id(session, member_ids).values()
    return {
        m.id: MemberRef(
            m.id, masking.mask_name(m.name) if m.name else None, registry.visible(actor, m)
        )
        for m in found
    }


# --- list -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    order: Order
    store_code: str
    store_name: str
    member: MemberRef | None


@router.get("")
def order_list(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    store: str = "",
    channel: str = "",
    member: str = "",
    date_from: Annotated[str, Query(alias="from")] = "",
    date_to: Annotated[str, Query(alias="to")] = "",
    cursor: str = "",
) -> HTMLResponse:
    options = store_options(session, actor)
    channel_filter = parse_enum(OrderChannel, channel)
    member_text = member.strip().removeprefix("#")
    member_id = parse_id(member_text)
    filters = orders.OrderFilter(
        store_id=parse_id(store),
        # A member number that is not one matches nobody: no member has id 0.
        member_id=(member_id or 0) if member_text else None,
        channel=channel_filter.value if channel_filter else None,
        since=day_start(date_from),
        until=day_start(date_to, days=1),
    )
    with error_page_on(InvalidInput):
        page = orders.list_orders(session, actor, filters, cursor or None, PAGE_SIZE)
    by_id = {s.id: s for s in options}
    refs = member_refs(session, actor, (o.member_id for o in page.items))
    rows = [
        OrderRow(
            order=o,
            store_code=by_id[o.store_id].code if o.store_id in by_id else f"#{o.store_id}",
            store_name=by_id[o.store_id].name if o.store_id in by_id else "",
            member=refs.get(o.member_id) if o.member_id else None,
        )
        for o in page.items
    ]
    return render(
        request,
        "orders/list.html",
        rows=rows,
        filters={
            "store": store,
            "channel": channel,
            "member": member,
            "from": date_from,
            "to": date_to,
        },
        store_options=options,
        channels=list(OrderChannel),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


# --- one order ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundForm:
    """The refund form's inputs and what was wrong with them."""

    values: dict[str, str] = field(default_factory=dict)
    errors: FormErrors = NO_ERRORS


@router.get("/{order_id:int}")
def order_detail(
    request: Request, order_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    return _detail(request, session, actor, get_order(session, actor, order_id), RefundForm())


def _detail(
    request: Request, session: Session, actor: Actor, order: Order, refund: RefundForm
) -> HTMLResponse:
    shown: OrderOut = order_presenters.present(session, order)
    with error_page_on(NotFound):
        store = stores.get_store(session, actor, order.store_id)
    ref = member_refs(session, actor, [order.member_id]).get(order.member_id or 0)
    return render(
        request,
        "orders/detail.html",
        status=refund.errors.status,
        # A refused refund answers a POST; the language switch returns to the order.
        here=order_url(order.id),
        order=shown,
        store=store,
        member=ref,
        lines_by_id={line.id: line for line in shown.items},
        refundable=shown.status != OrderStatus.refunded,
        refund=refund,
        # A fresh key for every rendering of the form: submitting it twice refunds once.
        refund_key=secrets.token_urlsafe(24),
        qty_prefix=QTY_PREFIX,
    )


@router.post("/{order_id:int}/refunds")
def order_refund(
    request: Request, order_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, order_policy.REFUND)
    t = t_for(request)
    order = get_order(session, actor, order_id)
    lines = orders.lines_of(session, order.id)
    everything = text(form, "action") == "all"
    key = text(form, KEY_FIELD)
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        raise ErrorPage(400)
    values = {"reason": text(form, "reason")}
    values |= {QTY_PREFIX + str(ln.id): text(form, QTY_PREFIX + str(ln.id)) for ln in lines}
    items, problems = _quantities(values, [ln.id for ln in lines], t)
    if not everything and problems:
        errors = FormErrors(message=t("error.form"), fields=problems, status=422)
        return _refused(request, session, actor, order, values, errors)
    if not everything and not items:
        errors = FormErrors(message=t("refund.nothing"), status=422)
        return _refused(request, session, actor, order, values, errors)
    try:
        data = RefundCreate.model_validate(
            {"items": [] if everything else items, "all": everything, "reason": values["reason"]}
        )
    except ValidationError as error:
        return _refused(request, session, actor, order, values, form_errors(error, t))

    def work() -> tuple[int, dict[str, Any]]:
        done = orders.refund_order(session, actor, order.id, data)
        return 201, {"refund_id": done.id, "amount": done.amount}

    scope = f"console refund {order.id}"
    try:
        with attempt(session):
            outcome = idempotency.run_once(
                session, actor, key, scope, data.model_dump(mode="json"), work
            )
    except orders.RefundExceedsOrder as error:
        return _refused(request, session, actor, order, values, _exceeds(error, t))
    except PatronError as error:
        return _refused(request, session, actor, order, values, form_errors(error, t))
    flash = "flash.refund_replayed" if outcome.replayed else "flash.refunded"
    return redirect(order_url(order.id), flash, name=t.yuan(int(outcome.body["amount"])))


def _quantities(
    values: dict[str, str], line_ids: list[int], t: Translator
) -> tuple[list[dict[str, int]], dict[str, str]]:
    """The lines asked for, and the inputs that are not a whole number of at least zero."""
    items: list[dict[str, int]] = []
    problems: dict[str, str] = {}
    for line_id in line_ids:
        name = QTY_PREFIX + str(line_id)
        raw = values[name]
        if not raw:
            continue
        quantity = parse_id(raw)
        if quantity is None:
            problems[name] = t("refund.whole_number")
        elif quantity > 0:
            items.append({"line_id": line_id, "quantity": quantity})
    return items, problems


def _exceeds(error: orders.RefundExceedsOrder, t: Translator) -> FormErrors:
    fields: dict[str, str] = {}
    line_id, left = error.extra.get("line_id"), error.extra.get("left")
    if isinstance(line_id, int) and isinstance(left, int):
        fields[QTY_PREFIX + str(line_id)] = t("refund.left", left=left)
    return FormErrors(
        message=t("error.refund_exceeds_order"), detail=error.detail, fields=fields, status=409
    )


def _refused(
    request: Request,
    session: Session,
    actor: Actor,
    order: Order,
    values: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    return _detail(request, session, actor, order, RefundForm(values, errors))


# --- import -------------------------------------------------------------------------------------


ImportScreen(
    kind=ImportKind.orders,
    path="/import",
    url=f"{PREFIX}/orders/import",
    permission=order_policy.IMPORT,
    template="orders/import.html",
    report=OrderImportReport,
    headers=importer.HEADERS,
    required=importer.REQUIRED,
).add_to(router)
