"""The points mall (积分商城) in the console: HQ's items (a coupon, a product picked up or
delivered, or a count card, for points or points plus cash), and the redemptions with their
fulfilment: store staff hand over what is picked up at their stores, HQ ships deliveries, and a
redemption not yet fulfilled can be cancelled (points and stock back)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.choices import store_options
from patron.console.coupon_forms import read_fen
from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors, parse_id
from patron.console.message_ids import N_
from patron.console.points_forms import read_int, refused, schema_errors, with_problems
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.core.money import fen_to_yuan
from patron.count_cards import products as card_products
from patron.coupons.models import TemplateStatus
from patron.coupons.templates import list_templates
from patron.mall import items, permissions, redemption
from patron.mall.errors import ItemNotFound, RedemptionNotFound
from patron.mall.models import ItemKind, MallItem, RedemptionStatus
from patron.mall.presenters import item_names
from patron.mall.schemas import ItemIn, ItemUpdate
from patron.stores import service as stores
from patron.tiers import ladder

router = APIRouter()
ITEMS_URL = f"{PREFIX}/mall"
REDEMPTIONS_URL = f"{PREFIX}/mall/redemptions"
TEXT_FIELDS = (
    "kind",
    "name",
    "name_en",
    "description",
    "points_price",
    "cash_price",
    "coupon_template_id",
    "count_card_product_id",
    "stock",
    "per_member_limit",
    "valid_from",
    "valid_until",
    "min_tier_id",
)
WAYS = ("pickup", "delivery")
BUILT_IDS = (
    N_("mall.kind.coupon"),
    N_("mall.kind.product"),
    N_("mall.kind.count_card"),
    N_("mall.way.pickup"),
    N_("mall.way.delivery"),
    N_("mall.status.completed"),
    N_("mall.status.pending"),
    N_("mall.status.handed_over"),
    N_("mall.status.shipped"),
    N_("mall.status.cancelled"),
    N_("error.mall_item_not_found"),
    N_("error.mall_redemption_not_found"),
    N_("error.item_unavailable"),
    N_("error.tier_required"),
    N_("error.reward_unavailable"),
    N_("error.redemption_status"),
    N_("error.reward_used"),
    N_("error.fulfilment_not_offered"),
    N_("error.fulfilment_details"),
    N_("flash.error.redemption_status"),
    N_("flash.error.reward_used"),
    N_("flash.mall_item_on"),
    N_("flash.mall_item_off"),
    N_("flash.mall_item_saved"),
    N_("flash.mall_item_created"),
    N_("flash.mall_handed"),
    N_("flash.mall_shipped"),
    N_("flash.mall_cancelled"),
)


# --- items ------------------------------------------------------------------------------------


@router.get("/mall")
def item_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    """Every role sees the items: a till redeems them for members."""
    page = items.list_items(session, request.query_params.get("cursor"), 50)
    return render(
        request,
        "mall/items.html",
        items=page.items,
        editable=permissions.MANAGE_ITEMS.allows(actor),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.get("/mall/new")
def item_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.MANAGE_ITEMS)
    values = {"kind": ItemKind.product.value, "active": "on", "pickup": "on"}
    return _item_form(request, session, None, values, NO_ERRORS)


@router.post("/mall/new")
def item_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, permissions.MANAGE_ITEMS)
    return _item_save(request, session, actor, None, form)


@router.get("/mall/{item_id:int}/edit")
def item_edit(request: Request, item_id: int, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.MANAGE_ITEMS)
    item = _get_item(session, item_id)
    return _item_form(request, session, item, item_values(item), NO_ERRORS)


@router.post("/mall/{item_id:int}/edit")
def item_update(
    request: Request, item_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, permissions.MANAGE_ITEMS)
    return _item_save(request, session, actor, _get_item(session, item_id), form)


@router.post("/mall/{item_id:int}/toggle")
def item_toggle(item_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm) -> Response:
    require_console(actor, permissions.MANAGE_ITEMS)
    item = _get_item(session, item_id)
    items.save_item(session, actor, {"active": not item.active}, item.id)
    flash = "flash.mall_item_on" if item.active else "flash.mall_item_off"
    return redirect(ITEMS_URL, flash, item.name)


def _get_item(session: Session, item_id: int) -> MallItem:
    try:
        return items.get_item(session, item_id)
    except ItemNotFound as error:
        raise ErrorPage(404) from error


def _day(value: datetime | None, last: bool = False) -> str:
    if value is None:
        return ""
    moment = value - timedelta(seconds=1) if last else value
    return moment.astimezone(clock.business_tz()).date().isoformat()


def item_values(item: MallItem) -> dict[str, str]:
    ways = items.ways(item)
    return {
        "kind": item.kind,
        "name": item.name,
        "name_en": item.name_en,
        "description": item.description,
        "points_price": str(item.points_price),
        "cash_price": fen_to_yuan(item.cash_price) if item.cash_price else "",
        "coupon_template_id": str(item.coupon_template_id or ""),
        "count_card_product_id": str(item.count_card_product_id or ""),
        "pickup": "on" if "pickup" in ways else "",
        "delivery": "on" if "delivery" in ways else "",
        "stock": "" if item.stock is None else str(item.stock),
        "per_member_limit": "" if item.per_member_limit is None else str(item.per_member_limit),
        "valid_from": _day(item.valid_from),
        "valid_until": _day(item.valid_until, last=True),
        "min_tier_id": str(item.min_tier_id or ""),
        "active": "on" if item.active else "",
    }


def _read_day(
    values: Mapping[str, str], name: str, shift: int, problems: dict[str, str], t: Any
) -> datetime | None:
    raw = values[name]
    if not raw:
        return None
    start = day_start(raw, shift)
    if start is None:
        problems[name] = t("reason.date")
    return start


def _item_save(
    request: Request, session: Session, actor: Actor, item: MallItem | None, form: CheckedForm
) -> Response:
    t = t_for(request)
    values = {name: text(form, name) for name in TEXT_FIELDS}
    for flag in ("active", *WAYS):
        values[flag] = "on" if form.get(flag) == "on" else ""
    if item is not None:
        values["kind"] = item.kind
    problems: dict[str, str] = {}
    kind = values["kind"]
    payload: dict[str, Any] = {
        "name": values["name"],
        "name_en": values["name_en"],
        "description": values["description"],
        "points_price": read_int(values, "points_price", problems, t),
        "cash_price": read_fen(values, "cash_price", problems, t) or 0,
        "fulfilment": [w for w in WAYS if values[w]] if kind == ItemKind.product else [],
        "stock": read_int(values, "stock", problems, t, required=False),
        "per_member_limit": read_int(values, "per_member_limit", problems, t, required=False),
        "valid_from": _read_day(values, "valid_from", 0, problems, t),
        "valid_until": _read_day(values, "valid_until", 1, problems, t),
        "min_tier_id": parse_id(values["min_tier_id"]),
        "active": bool(values["active"]),
    }
    schema: type[ItemIn] | type[ItemUpdate] = ItemUpdate
    if item is None:
        schema = ItemIn
        payload["kind"] = kind
        for name, needed in (
            ("coupon_template_id", ItemKind.coupon),
            ("count_card_product_id", ItemKind.count_card),
        ):
            payload[name] = parse_id(values[name]) if kind == needed else None
    try:
        schema.model_validate(payload)
    except ValidationError as error:
        errors = schema_errors(error, t, lambda e: (str(e["loc"][0]) if e["loc"] else "", None))
        return _item_form(request, session, item, values, with_problems(errors, problems, t))
    if problems:
        return _item_form(request, session, item, values, refused(problems, t))
    try:
        with attempt(session):
            saved = items.save_item(session, actor, payload, item.id if item else None)
    except PatronError as error:
        return _item_form(request, session, item, values, form_errors(error, t))
    flash = "flash.mall_item_saved" if item else "flash.mall_item_created"
    return redirect(ITEMS_URL, flash, saved.name)


def _item_form(
    request: Request,
    session: Session,
    item: MallItem | None,
    values: Mapping[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    templates = list_templates(session, TemplateStatus.active, None, 200).items
    return render(
        request,
        "mall/item_form.html",
        status=errors.status,
        item=item,
        values=values,
        errors=errors,
        kinds=[k.value for k in ItemKind],
        templates=templates,
        card_products=card_products.list_products(session, active_only=True),
        tiers=ladder.list_tiers(session),
    )


# --- redemptions ------------------------------------------------------------------------------


@router.get("/mall/redemptions")
def redemption_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    query = request.query_params
    status = query.get("status") or ""
    chosen = RedemptionStatus(status) if status in set(RedemptionStatus) else None
    store_id = parse_id(query.get("store_id") or "")
    page = redemption.list_redemptions(
        session, actor, query.get("cursor"), 50, status=chosen, store_id=store_id
    )
    found = list(page.items)
    return render(
        request,
        "mall/redemptions.html",
        redemptions=found,
        names=item_names(session, [r.item_id for r in found]),
        codes=stores.codes_by_id(session, {r.store_id for r in found if r.store_id}),
        statuses=[s.value for s in RedemptionStatus],
        chosen_status=chosen.value if chosen else "",
        store_id=store_id,
        store_options=store_options(session, actor),
        can_fulfil=permissions.FULFIL.allows(actor),
        can_cancel=permissions.CANCEL.allows(actor),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.post("/mall/redemptions/{redemption_id:int}/hand-over")
def hand_over(
    redemption_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm
) -> Response:
    require_console(actor, permissions.FULFIL)
    return _act(session, lambda: redemption.hand_over(session, actor, redemption_id), "handed")


@router.post("/mall/redemptions/{redemption_id:int}/ship")
def ship(redemption_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> Response:
    require_console(actor, permissions.FULFIL)
    tracking = text(form, "tracking")[:100]
    if not tracking:
        return redirect(REDEMPTIONS_URL, "flash.error.tracking_missing", f"#{redemption_id}")
    return _act(
        session, lambda: redemption.ship(session, actor, redemption_id, tracking), "shipped"
    )


@router.post("/mall/redemptions/{redemption_id:int}/cancel")
def cancel(redemption_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> Response:
    require_console(actor, permissions.CANCEL)
    reason = text(form, "reason")[:200]
    if not reason:
        return redirect(REDEMPTIONS_URL, "flash.error.cancel_reason_missing", f"#{redemption_id}")
    return _act(
        session, lambda: redemption.cancel(session, actor, redemption_id, reason), "cancelled"
    )


def _act(session: Session, work: Any, done: str) -> Response:
    try:
        with attempt(session):
            made = work()
    except RedemptionNotFound as error:
        raise ErrorPage(404) from error
    except PatronError as error:
        return redirect(REDEMPTIONS_URL, f"flash.error.{error.code}", "")
    return redirect(REDEMPTIONS_URL, f"flash.mall_{done}", f"#{made.id}")
