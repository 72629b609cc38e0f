"""Count cards in the members domain's work: merge, PIPL export, erasure."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.count_cards import cards, products, uses
from patron.count_cards.models import CountCard
from patron.members import merge as member_merge
from patron.members import privacy
from tests.factories import make_member, make_store

WASH = {"name": "洗车5次", "service": "car wash", "uses": 5, "validity_days": None, "price": 100}
CASH = cards.Payment("cash")


def test_a_merge_moves_the_cards_and_their_uses_to_the_survivor(session: Session) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    product = products.save_product(session, SYSTEM, WASH)
    card = cards.sell(session, SYSTEM, source.id, store.id, product.id, CASH)
    uses.use_card(session, SYSTEM, card.id, store.id)
    kept = cards.sell(session, SYSTEM, target.id, store.id, product.id, CASH)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    held = [v.card.id for v in cards.cards_of_member(session, SYSTEM, target.id)]
    assert sorted(held) == sorted([card.id, kept.id])
    assert cards.cards_of_member(session, SYSTEM, source.id) == []
    # The card is used on under its new holder, its history with it.
    assert uses.use_card(session, SYSTEM, card.id, store.id).uses_left == 3
    assert len(cards.card_detail(session, SYSTEM, card.id).history) == 2


def test_the_export_lists_cards_and_erasure_keeps_them(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    product = products.save_product(session, SYSTEM, WASH)
    card = cards.sell(session, SYSTEM, member.id, store.id, product.id, CASH)
    uses.use_card(session, SYSTEM, card.id, store.id)
    exported = privacy.export_member(session, SYSTEM, member.id)["count_cards"]
    assert [(c["id"], c["product"], c["uses_left"], c["status"]) for c in exported] == [
        (card.id, "洗车5次", 4, "available")
    ]
    assert len(exported[0]["uses_made"]) == 1
    privacy.erase_member(session, SYSTEM, member.id, "asked")
    session.expire_all()
    assert session.get(CountCard, card.id) is not None
    assert session.get(CountCard, card.id).uses_left == 4  # type: ignore[union-attr]
