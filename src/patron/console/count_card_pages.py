"""Count cards (次卡): the products HQ sells (N uses of a service, validity, price), and at the
till a member's cards: sell one, record a use, give back a use made today by mistake."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.choices import store_options
from patron.console.coupon_forms import read_fen
from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_id
from patron.console.i18n import Translator
from patron.console.member_pages import get_readable_member, member_url
from patron.console.member_stored_value_pages import HQ_STORE, KEY_FIELD, Section
from patron.console.message_ids import N_
from patron.console.points_forms import read_int, refused, schema_errors, with_problems
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock, idempotency
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.core.money import fen_to_yuan
from patron.count_cards import cards, products, uses
from patron.count_cards import errors as card_errors
from patron.count_cards import permissions as card_policy
from patron.count_cards.models import CountCardProduct
from patron.count_cards.schemas import CardPaymentMethod, CardStatus, ProductIn, SaleIn
from patron.members.models import Member, MemberStatus
from patron.stored_value import payments
from patron.stores import service as stores

router = APIRouter()
PRODUCTS_URL = f"{PREFIX}/count-cards"
PRODUCT_FIELDS = ("name", "service", "uses", "validity_days", "price")
SALE_FIELDS = ("store_id", "product_id", "method", "reference", "verify_by", "code", "password")
VERIFY_BY = ("member_code", "password")
BUILT_IDS = (
    N_("sv.method.stored_value"),
    N_("card_status.available"),
    N_("card_status.used_up"),
    N_("card_status.expired"),
    N_("card_status.void"),
    N_("flash.card_product_on"),
    N_("flash.card_product_off"),
    N_("error.product_not_found"),
    N_("error.product_not_active"),
    N_("error.card_not_found"),
    N_("error.no_uses_left"),
    N_("error.card_expired"),
    N_("error.card_void"),
    N_("error.unknown_card_product"),
    N_("error.card_product_inactive"),
)


def cards_url(member_id: int) -> str:
    return f"{member_url(member_id)}/count-cards"


# --- products ---------------------------------------------------------------------------------


@router.get("/count-cards")
def product_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    """Every role sees the products: the till sells them."""
    return render(
        request,
        "count_cards/products.html",
        products=products.list_products(session),
        editable=card_policy.EDIT_PRODUCTS.allows(actor),
    )


@router.get("/count-cards/new")
def product_new(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, card_policy.EDIT_PRODUCTS)
    return _product_form(request, None, {"active": "on"}, NO_ERRORS)


@router.post("/count-cards/new")
def product_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, card_policy.EDIT_PRODUCTS)
    return _product_save(request, session, actor, None, form)


@router.get("/count-cards/{card_product_id:int}/edit")
def product_edit(
    request: Request, card_product_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, card_policy.EDIT_PRODUCTS)
    product = _get_product(session, card_product_id)
    return _product_form(request, product, product_values(product), NO_ERRORS)


@router.post("/count-cards/{card_product_id:int}/edit")
def product_update(
    request: Request, card_product_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, card_policy.EDIT_PRODUCTS)
    return _product_save(request, session, actor, _get_product(session, card_product_id), form)


@router.post("/count-cards/{card_product_id:int}/toggle")
def product_toggle(
    card_product_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm
) -> Response:
    """Put a product on sale or take it off; cards sold keep their uses."""
    require_console(actor, card_policy.EDIT_PRODUCTS)
    product = _get_product(session, card_product_id)
    products.save_product(session, actor, {"active": not product.active}, product.id)
    flash = "flash.card_product_on" if product.active else "flash.card_product_off"
    return redirect(PRODUCTS_URL, flash, product.name)


def _get_product(session: Session, product_id: int) -> CountCardProduct:
    try:
        return products.get_product(session, product_id)
    except card_errors.ProductNotFound as error:
        raise ErrorPage(404) from error


def product_values(product: CountCardProduct) -> dict[str, str]:
    return {
        "name": product.name,
        "service": product.service,
        "uses": str(product.uses),
        "validity_days": str(product.validity_days or ""),
        "price": fen_to_yuan(product.price),
        "active": "on" if product.active else "",
    }


def _product_save(
    request: Request,
    session: Session,
    actor: Actor,
    product: CountCardProduct | None,
    form: CheckedForm,
) -> Response:
    t = t_for(request)
    values = {name: text(form, name) for name in PRODUCT_FIELDS}
    values["active"] = "on" if form.get("active") == "on" else ""
    problems: dict[str, str] = {}
    payload: dict[str, Any] = {
        "name": values["name"],
        "service": values["service"],
        "uses": read_int(values, "uses", problems, t),
        "validity_days": read_int(values, "validity_days", problems, t, required=False),
        "price": read_fen(values, "price", problems, t),
        "active": bool(values["active"]),
    }
    try:
        ProductIn.model_validate(payload)
    except ValidationError as error:
        errors = schema_errors(error, t, lambda item: (str(item["loc"][0]), None))
        return _product_form(request, product, values, with_problems(errors, problems, t))
    if problems:
        return _product_form(request, product, values, refused(problems, t))
    try:
        with attempt(session):
            saved = products.save_product(session, actor, payload, product.id if product else None)
    except PatronError as error:
        return _product_form(request, product, values, form_errors(error, t))
    if product:
        return redirect(PRODUCTS_URL, "flash.card_product_saved", saved.name)
    return redirect(PRODUCTS_URL, "flash.card_product_created", saved.name)


def _product_form(
    request: Request,
    product: CountCardProduct | None,
    values: Mapping[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "count_cards/product_form.html",
        status=errors.status,
        product=product,
        values=values,
        errors=errors,
    )


# --- a member's cards -------------------------------------------------------------------------


@router.get("/members/{member_id:int}/count-cards")
def member_cards(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    member = get_readable_member(session, actor, member_id)
    return _member_page(request, session, actor, member, NO_SECTION)


NO_SECTION = Section()


def _member_page(
    request: Request, session: Session, actor: Actor, member: Member, sale: Section
) -> HTMLResponse:
    views = [cards.card_detail(session, actor, v.card.id) for v in _cards(session, actor, member)]
    today = clock.today()
    tz = clock.business_tz()
    store_ids = {u.store_id for v in views for u in v.history}
    active = member.status == MemberStatus.active
    return render(
        request,
        "count_cards/member.html",
        status=sale.errors.status,
        member=member,
        views=views,
        today_uses={
            u.id
            for v in views
            for u in v.history
            if u.revoked_at is None and u.used_at.astimezone(tz).date() == today
        },
        codes=stores.codes_by_id(session, store_ids),
        products=products.list_products(session, active_only=True),
        store_options=store_options(session, actor),
        hq_store=HQ_STORE if actor.all_stores else None,
        methods=list(CardPaymentMethod),
        verify_by=VERIFY_BY,
        sale=sale if sale.values else Section(_new_sale(actor, member)),
        can_sell=active and card_policy.SELL.allows(actor),
        can_use=active and card_policy.USE.allows(actor),
        can_revoke=card_policy.REVOKE_USE.allows(actor),
        available=CardStatus.available,
        use_store=_till_store(actor, member),
        form_key=secrets.token_urlsafe(24),
    )


def _cards(session: Session, actor: Actor, member: Member) -> list[cards.CardView]:
    try:
        return cards.cards_of_member(session, actor, member.id)
    except PatronError as error:
        raise ErrorPage(404) from error


def _till_store(actor: Actor, member: Member) -> int | None:
    """The store a use is recorded at: the member's when the actor works there, else the
    actor's first."""
    if member.store_id and actor.sees_store(member.store_id):
        return member.store_id
    return min(actor.store_ids) if actor.store_ids else None


def _new_sale(actor: Actor, member: Member) -> dict[str, str]:
    store = _till_store(actor, member)
    return {"store_id": str(store) if store else "", "method": CardPaymentMethod.cash.value}


@router.post("/members/{member_id:int}/count-cards")
def sell(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, card_policy.SELL)
    t = t_for(request)
    member = get_readable_member(session, actor, member_id)
    key = _form_key(form)
    values = {name: text(form, name) for name in SALE_FIELDS}
    problems: dict[str, str] = {}
    payload = {
        "store_id": _store_id(values["store_id"], problems, t),
        "product_id": parse_id(values["product_id"]),
        "payment": {"method": values["method"], "reference": values["reference"]},
    }
    try:
        data = SaleIn.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(schema_errors(error, t, _sale_field), problems, t)
        return _member_page(request, session, actor, member, Section(values, errors))
    verification = _verification(values, data.payment.method, problems, t)
    if problems:
        return _member_page(request, session, actor, member, Section(values, refused(problems, t)))

    def work() -> tuple[int, dict[str, Any]]:
        payment = cards.Payment(data.payment.method.value, data.payment.reference, verification)
        card = cards.sell(session, actor, member.id, data.store_id, data.product_id, payment)
        return 201, {"card_id": card.id}

    try:
        # A wrong code or password is counted toward the lock-out even though the sale fails.
        with attempt(session):
            idempotency.run_once(
                session, actor, key, f"console card sale {member.id}", payload, work
            )
    except PatronError as error:
        errors = form_errors(error, t)
        if verification is not None and error.keeps_changes:
            field = "code" if values["verify_by"] == "member_code" else "password"
            errors = refused({field: errors.message or ""}, t, status=error.status)
        return _member_page(request, session, actor, member, Section(values, errors))
    product = products.get_product(session, data.product_id)
    return redirect(cards_url(member.id), "flash.card_sold", product.name)


def _verification(
    values: dict[str, str], method: CardPaymentMethod, problems: dict[str, str], t: Translator
) -> payments.Verification | None:
    """Paid from stored value: the member code or payment password the member gave (kept out
    of the idempotency record)."""
    if method is not CardPaymentMethod.stored_value:
        return None
    by_code = values["verify_by"] != "password"
    given = values["code"] if by_code else values["password"]
    if not given:
        problems["code" if by_code else "password"] = t("invalid.missing")
        return None
    if by_code:
        return payments.Verification(member_code=given)
    return payments.Verification(password=given)


def _sale_field(item: Any) -> tuple[str, str | None]:
    loc = [str(part) for part in item["loc"]]
    if loc and loc[0] == "payment":
        return ("method" if loc[-1] == "method" else "reference"), None
    return (loc[0] if loc else "product_id"), None


def _store_id(raw: str, problems: dict[str, str], t: Translator) -> int | None:
    if raw == HQ_STORE:
        return None
    store_id = parse_id(raw)
    if store_id is None:
        problems["store_id"] = t("invalid.missing")
    return store_id


def _form_key(form: CheckedForm) -> str:
    key = text(form, KEY_FIELD)
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        raise ErrorPage(400)
    return key


@router.post("/members/{member_id:int}/count-cards/{card_id:int}/use")
def use(
    request: Request,
    member_id: int,
    card_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    form: CheckedForm,
) -> Response:
    """One use at the chosen store; a double click records one (the form's key)."""
    require_console(actor, card_policy.USE)
    member = get_readable_member(session, actor, member_id)
    view = _member_card(session, actor, member, card_id)
    key = _form_key(form)
    store_id = parse_id(text(form, "store_id"))
    if store_id is None:
        raise ErrorPage(400)
    here = cards_url(member.id)
    name = view.product.name

    def work() -> tuple[int, dict[str, Any]]:
        done = uses.use_card(session, actor, card_id, store_id)
        return 201, {"uses_left": done.uses_left}

    try:
        with attempt(session):
            outcome = idempotency.run_once(
                session, actor, key, f"console card use {card_id}", {"store_id": store_id}, work
            )
    except card_errors.NoUsesLeft:
        return redirect(here, "flash.error.card_no_uses_left", name)
    except card_errors.CardExpired:
        return redirect(here, "flash.error.card_expired", name)
    except card_errors.CardVoid:
        return redirect(here, "flash.error.card_void", name)
    except PatronError as error:
        raise ErrorPage(error.status) from error
    left = int(outcome.body["uses_left"])
    return redirect(here, "flash.card_used", f"{name} ({t_for(request).num(left)})")


@router.post("/members/{member_id:int}/count-cards/{card_id:int}/uses/{use_id:int}/revoke")
def revoke(
    member_id: int,
    card_id: int,
    use_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    _form: CheckedForm,
) -> Response:
    """Give back a use recorded today by mistake."""
    require_console(actor, card_policy.REVOKE_USE)
    member = get_readable_member(session, actor, member_id)
    view = _member_card(session, actor, member, card_id)
    here = cards_url(member.id)
    try:
        with attempt(session):
            uses.revoke_use(session, actor, card_id, use_id)
    except card_errors.UseNotFound as error:
        raise ErrorPage(404) from error
    except card_errors.UseRevoked:
        return redirect(here, "flash.error.card_use_revoked", view.product.name)
    except card_errors.RevokeWindowOver:
        return redirect(here, "flash.error.card_revoke_over", view.product.name)
    return redirect(here, "flash.card_use_revoked", view.product.name)


def _member_card(session: Session, actor: Actor, member: Member, card_id: int) -> Any:
    try:
        view = cards.card_detail(session, actor, card_id)
    except card_errors.CardNotFound as error:
        raise ErrorPage(404) from error
    if view.card.member_id != member.id:
        raise ErrorPage(404)
    return view
