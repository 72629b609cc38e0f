"""The member's own API (`/api/v1/me/...`) for mini-programs and apps: every route takes the
member token (`deps.MemberDep`) and nothing staff-side, and reads or changes that member only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Response

from patron.core import clock
from patron.core.openapi import errors
from patron.core.text import SingleLine
from patron.count_cards import cards
from patron.count_cards import presenters as card_presenters
from patron.count_cards.schemas import CardOut
from patron.coupons import presenters as coupon_presenters
from patron.coupons.errors import CouponNotFound, CouponNotTransferable, CouponUnavailable
from patron.coupons.models import CouponStatus
from patron.coupons.schemas import CouponDetailOut
from patron.deps import IdempotentDep, MemberDep, OneHopRouter, SessionDep, WriteSessionDep
from patron.me import service, views
from patron.me.errors import BirthdayAlreadySet, ConsentChannelNotFound
from patron.me.schemas import (
    ConsentIn,
    ConsentState,
    ErasureIn,
    ErasureOut,
    MeCouponsOut,
    MeOrdersOut,
    MeOut,
    MePointsOut,
    MeStoredValueOut,
    MeTierOut,
    MeUpdate,
    TransferByMobile,
)
from patron.members import codes
from patron.members.models import ConsentChannel
from patron.members.schemas import MemberCodeOut
from patron.orders import presenters as order_presenters
from patron.orders import service as orders
from patron.points.schemas import EntryOut, ExpiringOut
from patron.stored_value import queries as stored_value

router = OneHopRouter(prefix="/me", tags=["me"])
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("", response_model=MeOut)
def get_me(session: SessionDep, actor: MemberDep) -> MeOut:
    """My profile and marketing consents."""
    return views.me_out(session, actor)


@router.patch("", response_model=MeOut, responses=errors(BirthdayAlreadySet))
def update_me(data: MeUpdate, session: SessionDep, actor: MemberDep) -> MeOut:
    """Name, e-mail, and the birthday (once)."""
    service.update_profile(session, actor, data)
    return views.me_out(session, actor)


ChannelName = Annotated[SingleLine, Path(max_length=16, description="sms, email, wechat")]


@router.put(
    "/consents/{channel}", response_model=ConsentState, responses=errors(ConsentChannelNotFound)
)
def put_consent(
    channel: ChannelName, data: ConsentIn, session: SessionDep, actor: MemberDep
) -> ConsentState:
    """Turn a channel's marketing consent on or off (recorded with source `member_page`)."""
    if channel not in ConsentChannel.__members__:
        raise ConsentChannelNotFound()
    chosen = ConsentChannel(channel)
    consent = service.set_consent(session, actor, chosen, data.granted)
    return ConsentState(channel=chosen, granted=consent.granted, recorded_at=consent.recorded_at)


@router.get("/points", response_model=MePointsOut)
def my_points(
    session: SessionDep, actor: MemberDep, cursor: str | None = None, limit: Limit = 20
) -> MePointsOut:
    """Points available, pending and expiring soon, and the points history (newest first)."""
    held = service.points(session, actor, cursor, limit)
    return MePointsOut(
        available=held.available,
        pending=held.pending,
        expiring_soon=held.expiring_soon,
        expiring_soon_days=service.EXPIRING_SOON.days,
        expiring=[ExpiringOut(expires_at=at, points=p) for at, p in held.expiring],
        history=[EntryOut.model_validate(e) for e in held.history.items],
        next_cursor=held.history.next_cursor,
    )


@router.get("/coupons", response_model=MeCouponsOut)
def my_coupons(
    session: SessionDep,
    actor: MemberDep,
    status: CouponStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> MeCouponsOut:
    """My coupons, newest first: `available`, `redeemed` (used) or `expired`, or all."""
    page = service.coupons(session, actor, status, cursor, limit)
    items = coupon_presenters.coupons_out(session, list(page.items), clock.now())
    return MeCouponsOut(items=items, next_cursor=page.next_cursor)


@router.post(
    "/coupons/{code}/transfer",
    response_model=CouponDetailOut,
    status_code=201,
    responses=errors(CouponNotFound, CouponUnavailable, CouponNotTransferable),
)
def transfer_coupon(
    code: str, data: TransferByMobile, session: SessionDep, actor: MemberDep, once: IdempotentDep
) -> Response:
    """Give one of my transferable coupons to the member holding the mobile (转赠)."""

    def work() -> CouponDetailOut:
        coupon = service.transfer_coupon(session, actor, code, data.mobile)
        return coupon_presenters.coupon_detail(session, coupon, clock.now())

    return once(actor, data, work)


@router.get("/orders", response_model=MeOrdersOut)
def my_orders(
    session: SessionDep, actor: MemberDep, cursor: str | None = None, limit: Limit = 20
) -> MeOrdersOut:
    """My orders, newest first, with their items."""
    page = orders.list_orders(
        session, actor, orders.OrderFilter(member_id=service.member_id_of(actor)), cursor, limit
    )
    return MeOrdersOut(
        items=order_presenters.present_all(session, page.items),
        next_cursor=page.next_cursor,
    )


@router.get("/tier", response_model=MeTierOut)
def my_tier(session: SessionDep, actor: MemberDep) -> MeTierOut:
    """My tier, the progress to the next one and the benefits."""
    return views.tier_out(session, actor)


@router.get("/stored-value", response_model=MeStoredValueOut)
def my_stored_value(session: SessionDep, actor: MemberDep) -> MeStoredValueOut:
    held = stored_value.balance(session, service.member_id_of(actor))
    return MeStoredValueOut(principal=held.principal, bonus=held.bonus, balance=held.total)


@router.get("/count-cards", response_model=list[CardOut])
def my_count_cards(session: SessionDep, actor: MemberDep) -> list[CardOut]:
    found = cards.cards_of_member(session, actor, service.member_id_of(actor))
    return [card_presenters.card_out(v) for v in found]


@router.post("/code", response_model=MemberCodeOut)
def my_code(session: SessionDep, actor: MemberDep) -> MemberCodeOut:
    """My member code (会员码) for the till: good for this minute and the next."""
    return codes.issue_code(session, actor, service.member_id_of(actor))


@router.get("/export")
def my_export(session: WriteSessionDep, actor: MemberDep) -> dict[str, Any]:
    """Everything Patron holds about me (PIPL), as JSON."""
    return service.export(session, actor)


@router.post("/erasure", response_model=ErasureOut)
def erase_me(data: ErasureIn, session: SessionDep, actor: MemberDep) -> ErasureOut:
    """Erase my account (PIPL): personal data goes, irreversibly; my token stops working."""
    member = service.erase(session, actor)
    return ErasureOut(erased=member.status == "erased")
