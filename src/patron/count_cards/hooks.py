"""Count cards in other domains' work: a merge moves them (with their uses) to the survivor;
erasure keeps them as they are (a card holds no personal data, and the member row is
anonymised); the PIPL export lists them with their uses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.core import clock
from patron.count_cards.cards import status_of
from patron.count_cards.models import CountCard, CountCardProduct, CountCardUse
from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member
from patron.stored_value.models import Recharge, RechargeStatus


@member_merge.on_merge.register("count_cards")
def _merge_cards(session: Session, source: Member, target: Member) -> None:
    session.execute(
        update(CountCard).where(CountCard.member_id == source.id).values(member_id=target.id)
    )


@privacy.export_sections.register("count_cards")
def _export_cards(session: Session, member: Member) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CountCard, CountCardProduct.name, Recharge.status)
        .join(CountCardProduct, CountCardProduct.id == CountCard.product_id)
        .outerjoin(Recharge, Recharge.id == CountCard.recharge_id)
        .where(CountCard.member_id == member.id)
        .order_by(CountCard.id)
    ).all()
    uses: dict[int, list[dict[str, Any]]] = {}
    for use in session.scalars(
        select(CountCardUse)
        .where(CountCardUse.card_id.in_([card.id for card, _, _ in rows]))
        .order_by(CountCardUse.id)
    ):
        uses.setdefault(use.card_id, []).append(
            {
                "store_id": use.store_id,
                "used_at": use.used_at.isoformat(),
                "revoked_at": use.revoked_at.isoformat() if use.revoked_at else None,
            }
        )
    now = clock.now()
    return [
        {
            "id": card.id,
            "product": name,
            "uses": card.uses,
            "uses_left": card.uses_left,
            "status": status_of(card, recharge == RechargeStatus.refunded, now).value,
            "valid_until": card.valid_until.isoformat() if card.valid_until else None,
            "price": card.price,
            "sold_at": card.sold_at.isoformat(),
            "uses_made": uses.get(card.id, []),
        }
        for card, name, recharge in rows
    ]
