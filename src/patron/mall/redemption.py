"""Redeeming mall items: one service for the till, the integrations and the member's own page.

A redemption holds the member's points account (the points service's lock, after the member's
row: the global lock order) for the rest of its transaction, so the member's redemptions run
one after another: the per-member limit counts what they hold. Stock is taken by one
conditional UPDATE (`stock >= quantity`), so concurrent redemptions of different members never
take more than is left. Then one burn entry (`mall:{redemption id}`) pays the points, and the
coupon or count card is issued at once, or a product waits to be handed over or shipped.
Cancelling gives the points back (one restore entry of that burn), the stock, and takes back an
unused coupon or count card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import Forbidden, InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.count_cards import cards as count_cards
from patron.count_cards import products as count_card_products
from patron.count_cards.errors import ProductNotActive, ProductNotFound
from patron.coupons import reclaiming
from patron.coupons.errors import TemplateExpired, TemplateNotActive
from patron.coupons.issuing import issue_coupons
from patron.coupons.models import IssueSource
from patron.mall import items
from patron.mall.errors import (
    CancelRefused,
    InsufficientPoints,
    ItemUnavailable,
    LimitReached,
    OutOfStock,
    RedemptionNotFound,
    RewardUnavailable,
    TierRequired,
    WrongStatus,
)
from patron.mall.items import get_item, ways
from patron.mall.models import Fulfilment, ItemKind, MallItem, MallRedemption, RedemptionStatus
from patron.mall.permissions import CANCEL, FULFIL, REDEEM
from patron.members import merge as member_merge
from patron.members import visibility
from patron.points import burning
from patron.points import queries as points
from patron.stores import service as stores
from patron.tiers import ladder, standing

# How a count card given by the mall is recorded as paid.
CARD_PAYMENT = "points_mall"
LIVE = (
    RedemptionStatus.completed.value,
    RedemptionStatus.pending.value,
    RedemptionStatus.handed_over.value,
    RedemptionStatus.shipped.value,
)


@dataclass(frozen=True)
class Delivery:
    """Where a product goes: a pick-up store, or an address."""

    way: str | None = None  # "pickup", "delivery" or None (not a product)
    store_id: int | None = None
    recipient_name: str = ""
    recipient_mobile: str = ""
    address: str = ""


def reference(redemption_id: int) -> str:
    """What ties the burn, the coupons and the count card to the redemption."""
    return f"mall:{redemption_id}"


def redeem(
    session: Session,
    actor: Actor,
    member_id: int,
    item_id: int,
    quantity: int = 1,
    delivery: Delivery | None = None,
    *,
    cash_reference: str = "",
    channel: str = "api",
) -> MallRedemption:
    """Redeem `quantity` units of an item for the member: 409 item_unavailable, tier_required,
    limit_reached, insufficient_points, out_of_stock (in this order of checking)."""
    delivery = delivery or Delivery()
    if actor.kind == "member":
        if actor.id != member_id:
            raise Forbidden("a member redeems for themselves only")
    else:
        REDEEM.check(actor)
        visibility.get_active_member(session, actor, member_id)
    if quantity < 1:
        raise InvalidInput("quantity", "at least one", code=Reason.too_small)
    item = get_item(session, item_id)
    now = clock.now()
    if not available_now(item, now):
        raise ItemUnavailable(f"mall item {item_id} cannot be redeemed now")
    delivery = _check_delivery(session, actor, item, quantity, delivery)
    store_id = delivery.store_id
    available = burning.hold(session, member_id)  # the member's lock, to the end
    _check_tier(session, item, member_id)
    left = remaining_for(session, item, member_id)
    if left is not None and quantity > left:
        raise LimitReached(
            f"at most {item.per_member_limit} per member; {left} left", remaining=left
        )
    points = item.points_price * quantity
    if available < points:
        raise InsufficientPoints(
            f"{available} points available, {points} asked", available=available
        )
    _take_stock(session, item, quantity)
    way = delivery.way if item.kind == ItemKind.product else None
    redemption = MallRedemption(
        item_id=item.id,
        member_id=member_id,
        quantity=quantity,
        points=points,
        cash=item.cash_price * quantity,
        cash_reference=cash_reference,
        status=(RedemptionStatus.pending if way else RedemptionStatus.completed).value,
        fulfilment=way or Fulfilment.none.value,
        store_id=store_id,
        recipient_name=delivery.recipient_name if way == Fulfilment.delivery else None,
        recipient_mobile=delivery.recipient_mobile if way == Fulfilment.delivery else None,
        address=delivery.address if way == Fulfilment.delivery else None,
        channel=channel,
        created_at=now,
        updated_at=now,
    )
    session.add(redemption)
    session.flush()
    ref = reference(redemption.id)
    burn = burning.burn(
        session, actor, member_id, points, ref, store_id=_booked(actor, store_id), minimum=False
    )
    redemption.burn_entry_id = burn.id
    _give(session, actor, item, redemption, store_id)
    audit.record(
        session,
        actor,
        "mall.redeem",
        "mall_redemption",
        redemption.id,
        store_id=store_id,
        after={
            "member_id": member_id,
            "item_id": item.id,
            "quantity": quantity,
            "points": points,
            "cash": redemption.cash,
            "status": redemption.status,
        },
    )
    return redemption


def available_now(item: MallItem, now: Any) -> bool:
    return (
        item.active
        and (item.valid_from is None or item.valid_from <= now)
        and (item.valid_until is None or now < item.valid_until)
    )


def _booked(actor: Actor, store_id: int | None) -> int | None:
    """The store the burn is booked to: the redemption's, where the caller may book."""
    return store_id if store_id is not None and actor.sees_store(store_id) else None


def _check_delivery(
    session: Session, actor: Actor, item: MallItem, quantity: int, delivery: Delivery
) -> Delivery:
    """The delivery checked, its way filled in when the product has only one. Its store: the
    pick-up store of a product, else the store it is redeemed at (store staff: one of theirs,
    required)."""
    if item.kind == ItemKind.product:
        offered = ways(item)
        if delivery.way is None:
            if len(offered) != 1:
                raise InvalidInput(
                    "fulfilment", "pickup or delivery", code=Reason.fulfilment_details
                )
            delivery = Delivery(offered[0], *_details(delivery))
        if delivery.way not in offered:
            raise InvalidInput(
                "fulfilment",
                f"this item is received by {', '.join(offered)}",
                code=Reason.fulfilment_not_offered,
            )
        if delivery.way == Fulfilment.pickup:
            if delivery.store_id is None:
                raise InvalidInput(
                    "store_id", "a pick-up needs its store", code=Reason.fulfilment_details
                )
        else:
            for field in ("recipient_name", "recipient_mobile", "address"):
                if not getattr(delivery, field).strip():
                    raise InvalidInput(field, "a delivery needs it", code=Reason.fulfilment_details)
    elif delivery.way is not None:
        raise InvalidInput(
            "fulfilment", "only products are picked up or delivered", code=Reason.not_for_type
        )
    if item.kind == ItemKind.count_card and quantity != 1:
        raise InvalidInput("quantity", "one count card at a time", code=Reason.not_for_type)
    store_id = delivery.store_id
    if store_id is None:
        if actor.kind != "member" and not actor.all_stores:
            raise InvalidInput(
                "store_id", "name the store it is redeemed at", code=Reason.unknown_store
            )
        return delivery
    if actor.kind != "member" and not actor.sees_store(store_id):
        raise InvalidInput(
            "store_id", f"no store {store_id} in your scope", code=Reason.unknown_store
        )
    if delivery.way == Fulfilment.pickup:
        stores.check_open(session, store_id)
    else:
        stores.check_ids_exist(session, [store_id], field="store_id")
    return delivery


def _details(delivery: Delivery) -> tuple[int | None, str, str, str]:
    return (
        delivery.store_id,
        delivery.recipient_name,
        delivery.recipient_mobile,
        delivery.address,
    )


def _check_tier(session: Session, item: MallItem, member_id: int) -> None:
    if item.min_tier_id is None:
        return
    least = ladder.by_id(ladder.ladder(session), item.min_tier_id)
    if least is None:  # tiers off, or the tier gone: nothing to hold
        return
    held = standing.current_tier(session, member_id)
    if held is None or held.rank < least.rank:
        raise TierRequired(f"for {least.code} members and above", tier=least.code)


def redeemed_by(session: Session, item_id: int, member_id: int) -> int:
    """Units of the item the member holds redeemed (cancelled ones aside)."""
    total = session.scalar(
        select(func.coalesce(func.sum(MallRedemption.quantity), 0)).where(
            MallRedemption.item_id == item_id,
            MallRedemption.member_id == member_id,
            MallRedemption.status.in_(LIVE),
        )
    )
    return int(total or 0)


def remaining_for(session: Session, item: MallItem, member_id: int) -> int | None:
    """How many more units the member may redeem under the per-member limit; None: no limit."""
    if item.per_member_limit is None:
        return None
    return max(0, item.per_member_limit - redeemed_by(session, item.id, member_id))


@dataclass(frozen=True)
class Offer:
    """An item on offer as one member sees it."""

    item: MallItem
    remaining: int | None  # more units the per-member limit allows; None: no limit
    points_cover: bool  # the member's available points pay for one

    @property
    def sold_out(self) -> bool:
        return self.item.stock is not None and self.item.stock <= 0

    @property
    def redeemable(self) -> bool:
        """One can be redeemed now: paid for, in stock, within the limit."""
        return self.points_cover and not self.sold_out and self.remaining != 0


def offers_for(session: Session, member_id: int, now: datetime) -> list[Offer]:
    """The items on offer now, cheapest first, for this member: three queries however many
    items (the items, the member's points, their live redemptions of the limited ones)."""
    offered = items.on_offer(session, now)
    available = points.balance(session, member_id).available
    limited = [item.id for item in offered if item.per_member_limit is not None]
    held: dict[int, int] = {}
    if limited:
        held = {
            item_id: int(units)
            for item_id, units in session.execute(
                select(MallRedemption.item_id, func.sum(MallRedemption.quantity))
                .where(
                    MallRedemption.member_id == member_id,
                    MallRedemption.item_id.in_(limited),
                    MallRedemption.status.in_(LIVE),
                )
                .group_by(MallRedemption.item_id)
            )
        }
    return [
        Offer(
            item,
            None
            if item.per_member_limit is None
            else max(0, item.per_member_limit - held.get(item.id, 0)),
            available >= item.points_price,
        )
        for item in offered
    ]


def _take_stock(session: Session, item: MallItem, quantity: int) -> None:
    """One conditional UPDATE: on PostgreSQL a concurrent redemption waits for the row and the
    condition is checked again on what it left."""
    taken = session.execute(
        update(MallItem)
        .where(MallItem.id == item.id)
        .where(MallItem.stock.is_(None) | (MallItem.stock >= quantity))
        .values(stock=MallItem.stock - quantity, redeemed_count=MallItem.redeemed_count + quantity)
        .execution_options(synchronize_session=False)
    )
    session.expire(item, ["stock", "redeemed_count"])
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise OutOfStock(f"not {quantity} of mall item {item.id} left", left=item.stock)


def _put_back_stock(session: Session, item_id: int, quantity: int) -> None:
    session.execute(
        update(MallItem)
        .where(MallItem.id == item_id)
        .values(stock=MallItem.stock + quantity, redeemed_count=MallItem.redeemed_count - quantity)
        .execution_options(synchronize_session=False)
    )
    item = session.get(MallItem, item_id)
    if item is not None:
        session.expire(item, ["stock", "redeemed_count"])


def _give(
    session: Session,
    actor: Actor,
    item: MallItem,
    redemption: MallRedemption,
    store_id: int | None,
) -> None:
    ref = reference(redemption.id)
    if item.kind == ItemKind.coupon:
        assert item.coupon_template_id is not None
        try:
            result = issue_coupons(
                session,
                actor,
                item.coupon_template_id,
                [redemption.member_id] * redemption.quantity,
                source=IssueSource.points_mall,
                source_ref=ref,
                store_id=_booked(actor, store_id),
            )
        except (TemplateNotActive, TemplateExpired) as exc:
            raise RewardUnavailable(str(exc)) from exc
        if result.refused or not result.issued:
            why = result.refused[0].code.value if result.refused else "none issued"
            raise RewardUnavailable(f"the coupon could not be issued: {why}", reason=why)
        redemption.coupon_id = result.issued[0].id
    elif item.kind == ItemKind.count_card:
        assert item.count_card_product_id is not None
        try:
            product = count_card_products.on_sale(session, item.count_card_product_id)
        except (ProductNotFound, ProductNotActive) as exc:
            raise RewardUnavailable(str(exc)) from exc
        card = count_cards.issue(
            session,
            actor,
            redemption.member_id,
            product,
            _booked(actor, store_id),
            count_cards.Payment(CARD_PAYMENT, ref),
            price=redemption.cash,
        )
        redemption.count_card_id = card.id
    session.flush()


# --- after the redemption ----------------------------------------------------------------------


def redemption_query(actor: Actor) -> Select[Any]:
    """The redemptions the caller may see: all for HQ; store staff those of their stores."""
    query = select(MallRedemption)
    if actor.kind == "member":
        return query.where(MallRedemption.member_id == actor.id)
    if actor.store_ids is not None:
        query = query.where(MallRedemption.store_id.in_(sorted(actor.store_ids)))
    return query


def get_redemption(session: Session, actor: Actor, redemption_id: int) -> MallRedemption:
    found = session.scalar(redemption_query(actor).where(MallRedemption.id == redemption_id))
    if found is None:
        raise RedemptionNotFound(f"no mall redemption {redemption_id}")
    return found


def list_redemptions(
    session: Session,
    actor: Actor,
    cursor: str | None,
    limit: int,
    *,
    status: RedemptionStatus | None = None,
    store_id: int | None = None,
    member_id: int | None = None,
    item_id: int | None = None,
) -> PageResult[MallRedemption]:
    query = redemption_query(actor)
    if status is not None:
        query = query.where(MallRedemption.status == status.value)
    if store_id is not None:
        query = query.where(MallRedemption.store_id == store_id)
    if member_id is not None:
        query = query.where(MallRedemption.member_id == member_id)
    if item_id is not None:
        query = query.where(MallRedemption.item_id == item_id)
    return paginate(session, query, MallRedemption.id, cursor, limit)


def _locked(session: Session, actor: Actor, redemption_id: int) -> MallRedemption:
    """The redemption, locked after its member's row (the global lock order)."""
    seen = get_redemption(session, actor, redemption_id)
    member_merge.hold_survivor(session, seen.member_id)
    locked = session.scalars(
        select(MallRedemption)
        .where(MallRedemption.id == redemption_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked


def hand_over(session: Session, actor: Actor, redemption_id: int) -> MallRedemption:
    """A product picked up at its store, handed over by staff of that store."""
    FULFIL.check(actor)
    redemption = _locked(session, actor, redemption_id)
    if redemption.status != RedemptionStatus.pending or redemption.fulfilment != Fulfilment.pickup:
        raise WrongStatus(f"redemption {redemption_id} is {redemption.status}")
    return _settle(session, actor, redemption, RedemptionStatus.handed_over, {})


def ship(session: Session, actor: Actor, redemption_id: int, tracking: str) -> MallRedemption:
    """A delivered product sent, with its tracking number."""
    FULFIL.check(actor)
    redemption = _locked(session, actor, redemption_id)
    if (
        redemption.status != RedemptionStatus.pending
        or redemption.fulfilment != Fulfilment.delivery
    ):
        raise WrongStatus(f"redemption {redemption_id} is {redemption.status}")
    redemption.tracking = tracking.strip()
    return _settle(session, actor, redemption, RedemptionStatus.shipped, {"tracking": tracking})


def _settle(
    session: Session,
    actor: Actor,
    redemption: MallRedemption,
    status: RedemptionStatus,
    extra: dict[str, Any],
) -> MallRedemption:
    before = redemption.status
    redemption.status = status.value
    redemption.handled_by = actor.name
    redemption.updated_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        f"mall.{status.value}",
        "mall_redemption",
        redemption.id,
        store_id=redemption.store_id,
        before={"status": before},
        after={"status": redemption.status, **extra},
    )
    return redemption


def cancel(session: Session, actor: Actor, redemption_id: int, reason: str) -> MallRedemption:
    """Undo a redemption not yet handed over or shipped: the points back (one restore entry
    of its burn), the stock back, and its unused coupons or count card taken back; a used one
    refuses (409 reward_used)."""
    CANCEL.check(actor)
    redemption = _locked(session, actor, redemption_id)
    if redemption.status not in (RedemptionStatus.completed, RedemptionStatus.pending):
        raise WrongStatus(f"redemption {redemption_id} is {redemption.status}")
    ref = reference(redemption.id)
    item = get_item(session, redemption.item_id)
    if item.kind == ItemKind.coupon:
        issued = reclaiming.issued_under(
            session, redemption.member_id, IssueSource.points_mall, ref
        )
        if issued.gone:
            raise CancelRefused(f"a coupon of redemption {redemption_id} has been used")
        reclaiming.void_all(session, actor, issued.available, f"{ref} cancelled")
    elif item.kind == ItemKind.count_card and not count_cards.take_back(
        session, redemption.member_id, CARD_PAYMENT, ref
    ):
        raise CancelRefused(f"the count card of redemption {redemption_id} has been used")
    if redemption.burn_entry_id is not None:
        burning.restore(
            session, redemption.burn_entry_id, redemption.member_id, actor.name, f"{ref} cancelled"
        )
    _put_back_stock(session, redemption.item_id, redemption.quantity)
    redemption.cancel_reason = reason.strip()
    return _settle(session, actor, redemption, RedemptionStatus.cancelled, {"reason": reason})
