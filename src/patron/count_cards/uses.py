"""Using a count card at a store, and revoking a use on its business day. Each holds the card's
member row, then locks the card's row (the global lock order), so concurrent uses never draw
more than the card holds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.count_cards.cards import check_store, readable, status_of
from patron.count_cards.errors import (
    CardExpired,
    CardNotFound,
    CardVoid,
    NoUsesLeft,
    RevokeWindowOver,
    UseNotFound,
    UseRevoked,
)
from patron.count_cards.models import CountCard, CountCardUse
from patron.count_cards.permissions import REVOKE_USE, USE
from patron.count_cards.schemas import CardStatus
from patron.members import merge as member_merge
from patron.members.errors import MemberNotActive
from patron.members.models import Member, MemberStatus
from patron.stored_value.models import Recharge, RechargeStatus


@dataclass(frozen=True)
class UseResult:
    use: CountCardUse
    uses_left: int


def use_card(session: Session, actor: Actor, card_id: int, store_id: int) -> UseResult:
    """One use of the card at `store_id` by the caller: 409 no_uses_left, card_expired or
    card_void, nothing written."""
    USE.check(actor)
    check_store(session, actor, store_id)
    card = lock_card(session, actor, card_id)
    member = session.get(Member, card.member_id)
    if member is None or member.status != MemberStatus.active:
        raise MemberNotActive(f"the holder of count card {card_id} is not active")
    now = clock.now()
    status = status_of(card, _voided(session, card), now)
    if status is CardStatus.void:
        raise CardVoid(f"count card {card_id} was voided with recharge {card.recharge_id}")
    if status is CardStatus.used_up:
        raise NoUsesLeft(f"count card {card_id} has no uses left")
    if status is CardStatus.expired:
        raise CardExpired(f"count card {card_id} was valid until {card.valid_until}")
    card.uses_left -= 1
    use = CountCardUse(card_id=card.id, store_id=store_id, staff=actor.name, used_at=now)
    session.add(use)
    session.flush()
    audit.record(
        session,
        actor,
        "count_cards.use",
        "count_card",
        card.id,
        store_id=store_id,
        after={"use_id": use.id, "member_id": card.member_id, "uses_left": card.uses_left},
    )
    return UseResult(use, card.uses_left)


def revoke_use(session: Session, actor: Actor, card_id: int, use_id: int) -> UseResult:
    """Give a use back, on the business day it was made, by the staff of its store: 409
    revoke_window_over after that day, 409 use_revoked the second time."""
    REVOKE_USE.check(actor)
    card = lock_card(session, actor, card_id)
    use = session.scalar(
        select(CountCardUse).where(CountCardUse.id == use_id, CountCardUse.card_id == card.id)
    )
    if use is None or not actor.sees_store(use.store_id):
        raise UseNotFound(f"no use {use_id} of count card {card_id} in your stores")
    if use.revoked_at is not None:
        raise UseRevoked(f"use {use_id} was revoked at {use.revoked_at}")
    now = clock.now()
    tz = clock.business_tz()
    if now.astimezone(tz).date() != use.used_at.astimezone(tz).date():
        raise RevokeWindowOver(f"use {use_id} was made on an earlier business day")
    use.revoked_at, use.revoked_by = now, actor.name
    card.uses_left += 1
    session.flush()
    audit.record(
        session,
        actor,
        "count_cards.use_revoke",
        "count_card",
        card.id,
        store_id=use.store_id,
        after={"use_id": use.id, "member_id": card.member_id, "uses_left": card.uses_left},
    )
    return UseResult(use, card.uses_left)


def lock_card(session: Session, actor: Actor, card_id: int) -> CountCard:
    """The card, locked after its member's row (followed through merges: a merge may be moving
    the card), if the caller may read its member; else 404."""
    owner = session.scalar(select(CountCard.member_id).where(CountCard.id == card_id))
    if owner is None:
        raise CardNotFound(f"no count card {card_id}")
    member_merge.hold_survivor(session, owner)
    card = session.scalars(
        select(CountCard)
        .where(CountCard.id == card_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    readable(session, actor, card)
    return card


def _voided(session: Session, card: CountCard) -> bool:
    if card.recharge_id is None:
        return False
    status = session.scalar(select(Recharge.status).where(Recharge.id == card.recharge_id))
    return status == RechargeStatus.refunded
