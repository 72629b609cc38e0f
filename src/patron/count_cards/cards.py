"""Count cards: sold alone (paid from outside or from stored value) or given with a recharge
package; read with their product, what is left, and a status derived when read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.count_cards import products
from patron.count_cards.errors import CardNotFound
from patron.count_cards.models import CountCard, CountCardProduct, CountCardUse
from patron.count_cards.permissions import SELL
from patron.count_cards.schemas import CardStatus
from patron.members import merge as member_merge
from patron.members import visibility
from patron.members.models import Member
from patron.points.policy import end_of_day
from patron.stored_value import payments
from patron.stored_value.models import Recharge, RechargeStatus
from patron.stored_value.payments import Verification
from patron.stores import service as stores

CardQuery = Select[CountCard, CountCardProduct, str]
# The payment method of a card given with a recharge package (at price 0).
PACKAGE = "package"
STORED_VALUE = "stored_value"


@dataclass(frozen=True)
class Payment:
    method: str
    reference: str = ""
    # stored value only: who pays (the member code or the payment password)
    verification: Verification | None = None


@dataclass
class CardView:
    """A card as a till and the API show it."""

    card: CountCard
    product: CountCardProduct
    status: CardStatus
    history: list[CountCardUse] = field(default_factory=list)


def valid_until(product: CountCardProduct, sold_at: datetime) -> datetime | None:
    """23:59:59 business time of the validity_days-th day, the day of sale being the first
    (as coupons' valid_days); None for a product that never expires."""
    if product.validity_days is None:
        return None
    sale_day = sold_at.astimezone(clock.business_tz()).date()
    return end_of_day(sale_day + timedelta(days=product.validity_days - 1))


def status_of(card: CountCard, voided: bool, now: datetime) -> CardStatus:
    if voided:
        return CardStatus.void
    if card.uses_left == 0:
        return CardStatus.used_up
    if card.valid_until is not None and now > card.valid_until:
        return CardStatus.expired
    return CardStatus.available


def sell(
    session: Session,
    actor: Actor,
    member_id: int,
    store_id: int | None,
    product_id: int,
    payment: Payment,
) -> CountCard:
    """Sell one card of an active product (409 product_not_active) to an active member the
    caller may read (else 404). Paid from outside, the payment is recorded as it is given;
    paid from stored value, the price is taken from the member's account (refusals as for
    orders: verification, lock-out, insufficient balance), its entry naming the card."""
    SELL.check(actor)
    check_store(session, actor, store_id)
    product = products.on_sale(session, product_id)
    visibility.get_active_member(session, actor, member_id)
    member_merge.hold(session, [member_id], active=True)
    entry = None
    if payment.method == STORED_VALUE and product.price:
        # Before anything is written: a failed verification keeps its count (and so commits).
        entry = payments.pay(
            session, actor, member_id, product.price, store_id, payment.verification
        )
    card = issue(session, actor, member_id, product, store_id, payment, price=product.price)
    if entry is not None:
        entry.count_card_id = card.id
    audit.record(
        session,
        actor,
        "count_cards.sale",
        "count_card",
        card.id,
        store_id=store_id,
        after={
            "member_id": member_id,
            "product_id": product.id,
            "uses": card.uses,
            "price": card.price,
            "payment_method": payment.method,
        },
    )
    return card


def check_store(session: Session, actor: Actor, store_id: int | None) -> None:
    """The store a card is sold or used at: one in the caller's scope; None (online, HQ) only
    for callers who see every store."""
    if not actor.sees_store(store_id):
        raise InvalidInput(
            "store_id", f"no store {store_id} in your scope", code=Reason.unknown_store
        )
    if store_id is not None:
        stores.check_ids_exist(session, [store_id], field="store_id")


def issue(
    session: Session,
    actor: Actor,
    member_id: int,
    product: CountCardProduct,
    store_id: int | None,
    payment: Payment,
    *,
    price: int,
    recharge_id: int | None = None,
) -> CountCard:
    """Write the card of a sale or a package; the caller holds the member's row."""
    now = clock.now()
    card = CountCard(
        member_id=member_id,
        product_id=product.id,
        uses=product.uses,
        uses_left=product.uses,
        valid_until=valid_until(product, now),
        store_id=store_id,
        price=price,
        payment_method=payment.method,
        payment_reference=payment.reference,
        recharge_id=recharge_id,
        operator=actor.name,
        sold_at=now,
    )
    session.add(card)
    session.flush()
    return card


def _views(session: Session, query: CardQuery) -> list[CardView]:
    now = clock.now()
    return [
        CardView(card, product, status_of(card, recharge == RechargeStatus.refunded, now))
        for card, product, recharge in session.execute(query)
    ]


def _with_product() -> CardQuery:
    return (
        select(CountCard, CountCardProduct, Recharge.status)
        .join(CountCardProduct, CountCardProduct.id == CountCard.product_id)
        .outerjoin(Recharge, Recharge.id == CountCard.recharge_id)
    )


def cards_of_member(session: Session, actor: Actor, member_id: int) -> list[CardView]:
    """The cards a member holds, newest first, if the caller may read the member (else 404)."""
    member = visibility.get_member(session, actor, member_id)
    query = _with_product().where(CountCard.member_id == member.id).order_by(CountCard.id.desc())
    return _views(session, query)


def card_view(session: Session, card_id: int) -> CardView:
    found = _views(session, _with_product().where(CountCard.id == card_id))
    if not found:
        raise CardNotFound(f"no count card {card_id}")
    return found[0]


def card_detail(session: Session, actor: Actor, card_id: int) -> CardView:
    """A card with its uses (newest first), if the caller may read its member (else 404)."""
    view = card_view(session, card_id)
    readable(session, actor, view.card)
    view.history = list(
        session.scalars(
            select(CountCardUse)
            .where(CountCardUse.card_id == card_id)
            .order_by(CountCardUse.id.desc())
        )
    )
    return view


def readable(session: Session, actor: Actor, card: CountCard) -> None:
    """A card is visible where its member is: another caller is told it does not exist."""
    member = session.get(Member, card.member_id)
    if member is None or not visibility.readable(session, actor, member):
        raise CardNotFound(f"no count card {card.id}")


def lock_package_cards(session: Session, *recharge_ids: int) -> list[CountCard]:
    """The cards these recharges' packages gave, locked (the caller holds their member's row)."""
    return list(
        session.scalars(
            select(CountCard)
            .where(CountCard.recharge_id.in_(recharge_ids))
            .order_by(CountCard.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def void_package_cards(cards: list[CountCard]) -> None:
    """End the uses left on package cards (from `lock_package_cards`): once their recharge is
    refunded they read as `void`; after an account refund, as `used_up`."""
    for card in cards:
        card.uses_left = 0


def take_back(session: Session, member_id: int, method: str, reference: str) -> bool:
    """End the member's cards given under one payment (a points-mall redemption cancelled),
    locked after the member's row the caller holds: when none of them has been used, their
    uses end (they read `used_up`) and True; else nothing changes and False."""
    found = list(
        session.scalars(
            select(CountCard)
            .where(
                CountCard.member_id == member_id,
                CountCard.payment_method == method,
                CountCard.payment_reference == reference,
            )
            .order_by(CountCard.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    if any(card.uses_left != card.uses for card in found):
        return False
    for card in found:
        card.uses_left = 0
    session.flush()
    return True
