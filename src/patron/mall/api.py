"""The points mall's API: items (HQ), redemptions for a member (staff, integrations) and by the
member (`/me/mall/...`, a member token), fulfilment and cancelling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response

from patron.core import clock
from patron.core.actor import Actor
from patron.core.ids import RowId
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import ActorDep, IdempotentDep, MemberDep, OneHopRouter, SessionDep, require
from patron.mall import items, permissions, presenters, redemption
from patron.mall.errors import (
    CancelRefused,
    InsufficientPoints,
    ItemNotFound,
    ItemUnavailable,
    LimitReached,
    OutOfStock,
    RedemptionNotFound,
    RewardUnavailable,
    TierRequired,
    WrongStatus,
)
from patron.mall.models import ItemKind, RedemptionStatus
from patron.mall.schemas import (
    CancelIn,
    ItemIn,
    ItemOut,
    ItemUpdate,
    MemberItemOut,
    MemberRedemptionIn,
    RedemptionIn,
    RedemptionOut,
    ShipIn,
)
from patron.members import errors as member_errors

router = OneHopRouter(tags=["points mall"])
Manager = Annotated[Actor, Depends(require(permissions.MANAGE_ITEMS))]
Redeemer = Annotated[Actor, Depends(require(permissions.REDEEM))]
Fulfiller = Annotated[Actor, Depends(require(permissions.FULFIL))]
Canceller = Annotated[Actor, Depends(require(permissions.CANCEL))]
Limit = Annotated[int, Query(ge=1, le=200)]
REDEEM_ERRORS = (
    ItemNotFound,
    ItemUnavailable,
    TierRequired,
    LimitReached,
    InsufficientPoints,
    OutOfStock,
    RewardUnavailable,
)


@router.get("/mall/items", response_model=Page[ItemOut])
def list_items(
    session: SessionDep,
    actor: ActorDep,
    kind: ItemKind | None = None,
    active: bool = False,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[ItemOut]:
    """Newest first; `active=true`: only those switched on."""
    page = items.list_items(session, cursor, limit, active_only=active, kind=kind)
    return Page(items=[presenters.item_out(i) for i in page.items], next_cursor=page.next_cursor)


@router.post("/mall/items", response_model=ItemOut, status_code=201)
def create_item(data: ItemIn, session: SessionDep, actor: Manager) -> ItemOut:
    return presenters.item_out(items.save_item(session, actor, data.model_dump()))


@router.get("/mall/items/{item_id}", response_model=ItemOut, responses=errors(ItemNotFound))
def get_item(item_id: int, session: SessionDep, actor: ActorDep) -> ItemOut:
    return presenters.item_out(items.get_item(session, item_id))


@router.patch("/mall/items/{item_id}", response_model=ItemOut, responses=errors(ItemNotFound))
def update_item(item_id: int, data: ItemUpdate, session: SessionDep, actor: Manager) -> ItemOut:
    """Redemptions made keep what they paid."""
    values = data.model_dump(exclude_unset=True)
    return presenters.item_out(items.save_item(session, actor, values, item_id))


@router.post(
    "/mall/items/{item_id}/deactivate", response_model=ItemOut, responses=errors(ItemNotFound)
)
def deactivate_item(item_id: int, session: SessionDep, actor: Manager) -> ItemOut:
    return presenters.item_out(items.deactivate(session, actor, item_id))


@router.post(
    "/members/{member_id}/mall/redemptions",
    response_model=RedemptionOut,
    status_code=201,
    responses=errors(member_errors.MemberNotFound, *REDEEM_ERRORS),
)
def redeem_for_member(
    member_id: int, data: RedemptionIn, session: SessionDep, actor: Redeemer, once: IdempotentDep
) -> Response:
    """Burns the points (one burn entry), takes the stock, and issues the coupon or count card
    or records the product to hand over (pickup at `store_id`) or ship (to the address). Store
    staff name one of their stores."""

    def work() -> RedemptionOut:
        made = redemption.redeem(
            session,
            actor,
            member_id,
            data.item_id,
            data.quantity,
            _delivery(data),
            cash_reference=data.cash_reference,
            channel="api" if actor.kind == "api_key" else "staff",
        )
        return presenters.redemptions_out(session, [made])[0]

    return once(actor, data, work)


def _delivery(data: RedemptionIn | MemberRedemptionIn) -> redemption.Delivery:
    return redemption.Delivery(
        data.fulfilment.value if data.fulfilment else None,
        data.store_id,
        data.recipient_name,
        data.recipient_mobile,
        data.address,
    )


@router.get("/mall/redemptions", response_model=Page[RedemptionOut])
def list_redemptions(
    session: SessionDep,
    actor: ActorDep,
    status: RedemptionStatus | None = None,
    store_id: RowId | None = None,
    member_id: RowId | None = None,
    item_id: RowId | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[RedemptionOut]:
    """Newest first. Store staff see those of their stores (pick-ups and what was redeemed
    there); HQ sees all."""
    page = redemption.list_redemptions(
        session,
        actor,
        cursor,
        limit,
        status=status,
        store_id=store_id,
        member_id=member_id,
        item_id=item_id,
    )
    return Page(items=presenters.redemptions_out(session, page.items), next_cursor=page.next_cursor)


@router.get(
    "/mall/redemptions/{redemption_id}",
    response_model=RedemptionOut,
    responses=errors(RedemptionNotFound),
)
def get_redemption(redemption_id: int, session: SessionDep, actor: ActorDep) -> RedemptionOut:
    found = redemption.get_redemption(session, actor, redemption_id)
    return presenters.redemptions_out(session, [found])[0]


@router.post(
    "/mall/redemptions/{redemption_id}/hand-over",
    response_model=RedemptionOut,
    responses=errors(RedemptionNotFound, WrongStatus),
)
def hand_over(redemption_id: int, session: SessionDep, actor: Fulfiller) -> RedemptionOut:
    """A picked-up product handed to the member, at its store."""
    done = redemption.hand_over(session, actor, redemption_id)
    return presenters.redemptions_out(session, [done])[0]


@router.post(
    "/mall/redemptions/{redemption_id}/ship",
    response_model=RedemptionOut,
    responses=errors(RedemptionNotFound, WrongStatus),
)
def ship(redemption_id: int, data: ShipIn, session: SessionDep, actor: Fulfiller) -> RedemptionOut:
    done = redemption.ship(session, actor, redemption_id, data.tracking)
    return presenters.redemptions_out(session, [done])[0]


@router.post(
    "/mall/redemptions/{redemption_id}/cancel",
    response_model=RedemptionOut,
    status_code=201,
    responses=errors(RedemptionNotFound, WrongStatus, CancelRefused),
)
def cancel(
    redemption_id: int, data: CancelIn, session: SessionDep, actor: Canceller, once: IdempotentDep
) -> Response:
    """Before it is handed over or shipped: the points back (a restore entry in the ledger), the
    stock back, an unused coupon or count card taken back; a used one refuses."""

    def work() -> RedemptionOut:
        done = redemption.cancel(session, actor, redemption_id, data.reason)
        return presenters.redemptions_out(session, [done])[0]

    return once(actor, data, work)


# --- the member's own ---------------------------------------------------------------------------


@router.get("/me/mall/items", response_model=list[MemberItemOut])
def my_items(session: SessionDep, member: MemberDep) -> list[MemberItemOut]:
    """The items on offer now, cheapest first, with whether the member's points cover one and
    how many more the per-member limit allows."""
    assert member.id is not None
    return [
        presenters.member_item_out(offer)
        for offer in redemption.offers_for(session, member.id, clock.now())
    ]


@router.get("/me/mall/redemptions", response_model=Page[RedemptionOut])
def my_redemptions(
    session: SessionDep, member: MemberDep, cursor: str | None = None, limit: Limit = 50
) -> Page[RedemptionOut]:
    page = redemption.list_redemptions(session, member, cursor, limit)
    return Page(items=presenters.redemptions_out(session, page.items), next_cursor=page.next_cursor)


@router.post(
    "/me/mall/redemptions",
    response_model=RedemptionOut,
    status_code=201,
    responses=errors(*REDEEM_ERRORS),
)
def redeem_mine(
    data: MemberRedemptionIn, session: SessionDep, member: MemberDep, once: IdempotentDep
) -> Response:
    def work() -> RedemptionOut:
        assert member.id is not None
        made = redemption.redeem(
            session,
            member,
            member.id,
            data.item_id,
            data.quantity,
            _delivery(data),
            channel="member",
        )
        return presenters.redemptions_out(session, [made])[0]

    return once(member, data, work)
