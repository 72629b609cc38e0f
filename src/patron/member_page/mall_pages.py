"""The points mall on the member's page (/m/mall): the items on offer, those the member's points
cover first and highlighted; an item's page redeems it (picked up at a store or delivered to an
address); the member's redemptions. Each redemption form carries a one-time key, so a double
tap redeems once."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_id
from patron.console.message_ids import N_
from patron.console.web import attempt, lang_of, t_for
from patron.core import clock, idempotency
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.mall import items, redemption
from patron.mall.errors import ItemNotFound
from patron.mall.models import ItemKind, MallItem
from patron.mall.presenters import item_names
from patron.member_page.web import CheckedForm, MemberPageDep, Tx, redirect, render
from patron.points.queries import balance
from patron.stores import service as stores
from patron.stores.models import StoreStatus

router = APIRouter()
KEY_FIELD = "form_key"
FIELDS = ("fulfilment", "store_id", "recipient_name", "recipient_mobile", "address")
LIMITS = {"recipient_name": 50, "recipient_mobile": 20, "address": 200}
BUILT_IDS = (
    N_("m.mall.kind.coupon"),
    N_("m.mall.kind.product"),
    N_("m.mall.kind.count_card"),
    N_("m.mall.way.pickup"),
    N_("m.mall.way.delivery"),
    N_("m.mall.status.completed"),
    N_("m.mall.status.pending"),
    N_("m.mall.status.handed_over"),
    N_("m.mall.status.shipped"),
    N_("m.mall.status.cancelled"),
)


def _points(session: Session, actor: Actor) -> int:
    assert actor.id is not None
    return balance(session, actor.id).available


def _offer(session: Session, actor: Actor) -> list[redemption.Offer]:
    assert actor.id is not None
    # What the member can redeem now first, each group cheapest first.
    offers = redemption.offers_for(session, actor.id, clock.now())
    return sorted(offers, key=lambda offer: not offer.redeemable)


@router.get("/mall")
def mall(request: Request, session: Tx, actor: MemberPageDep) -> HTMLResponse:
    return render(
        request,
        "m/mall/items.html",
        section="mall",
        points=_points(session, actor),
        rows=_offer(session, actor),
    )


def _get_item(session: Session, item_id: int) -> MallItem | None:
    try:
        item = items.get_item(session, item_id)
    except ItemNotFound:
        return None
    return item if redemption.available_now(item, clock.now()) else None


def _open_stores(session: Session, actor: Actor) -> list[Any]:
    page = stores.list_stores(
        session, actor, stores.StoreFilter(status=StoreStatus.open), None, 200
    )
    return sorted(page.items, key=lambda s: s.code)


def _item_page(
    request: Request,
    session: Session,
    actor: Actor,
    item: MallItem,
    values: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    assert actor.id is not None
    return render(
        request,
        "m/mall/item.html",
        status=errors.status,
        section="mall",
        item=item,
        ways=items.ways(item),
        points=_points(session, actor),
        left=redemption.remaining_for(session, item, actor.id),
        stores=_open_stores(session, actor) if item.kind == ItemKind.product else [],
        values=values,
        errors=errors,
        form_key=secrets.token_urlsafe(16),
    )


@router.get("/mall/{item_id:int}")
def item_page(request: Request, item_id: int, session: Tx, actor: MemberPageDep) -> Response:
    item = _get_item(session, item_id)
    if item is None:
        return redirect("/m/mall")
    ways = items.ways(item)
    values = {"fulfilment": ways[0] if ways else ""}
    return _item_page(request, session, actor, item, values, NO_ERRORS)


@router.post("/mall/{item_id:int}/redeem")
def redeem(
    request: Request, item_id: int, session: Tx, actor: MemberPageDep, form: CheckedForm
) -> Response:
    assert actor.id is not None
    member_id = actor.id
    item = _get_item(session, item_id)
    if item is None:
        return redirect("/m/mall")
    t = t_for(request)
    values = {name: str(form.get(name) or "").strip() for name in FIELDS}
    for name, most in LIMITS.items():
        values[name] = values[name][:most]
    key = str(form.get(KEY_FIELD) or "")
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        return redirect(f"/m/mall/{item_id}")
    way = values["fulfilment"] if item.kind == ItemKind.product else ""
    delivery = redemption.Delivery(
        way or None,
        parse_id(values["store_id"]) if way == "pickup" else None,
        values["recipient_name"] if way == "delivery" else "",
        values["recipient_mobile"] if way == "delivery" else "",
        values["address"] if way == "delivery" else "",
    )

    def work() -> tuple[int, dict[str, Any]]:
        made = redemption.redeem(
            session, actor, member_id, item_id, 1, delivery, channel="member_page"
        )
        return 201, {"redemption_id": made.id}

    body = {"item_id": item_id, **values}
    try:
        with attempt(session):
            outcome = idempotency.run_once(
                session, actor, key, f"member page mall redeem {item_id}", body, work
            )
    except PatronError as error:
        return _item_page(request, session, actor, item, values, form_errors(error, t))
    return redirect(f"/m/mall/redemptions?done={outcome.body['redemption_id']}")


@router.get("/mall/redemptions")
def my_redemptions(request: Request, session: Tx, actor: MemberPageDep) -> HTMLResponse:
    page = redemption.list_redemptions(session, actor, request.query_params.get("cursor"), 50)
    found = list(page.items)
    done = parse_id(request.query_params.get("done") or "")
    return render(
        request,
        "m/mall/redemptions.html",
        section="mall",
        redemptions=found,
        names=item_names(session, [r.item_id for r in found], english=lang_of(request) == "en"),
        store_names=stores.names_by_id(session, {r.store_id for r in found if r.store_id}),
        done=done,
        next_cursor=page.next_cursor,
    )
