"""Cards as the API answers them."""

from __future__ import annotations

from patron.count_cards.cards import CardView
from patron.count_cards.schemas import CardDetailOut, CardOut, UseOut, UseResultOut
from patron.count_cards.uses import UseResult


def card_out(view: CardView) -> CardOut:
    card = view.card
    return CardOut(
        id=card.id,
        member_id=card.member_id,
        product_id=card.product_id,
        product_name=view.product.name,
        service=view.product.service,
        uses=card.uses,
        uses_left=card.uses_left,
        valid_until=card.valid_until,
        status=view.status,
        store_id=card.store_id,
        price=card.price,
        payment_method=card.payment_method,
        payment_reference=card.payment_reference,
        recharge_id=card.recharge_id,
        operator=card.operator,
        sold_at=card.sold_at,
    )


def card_detail_out(view: CardView) -> CardDetailOut:
    history = [UseOut.model_validate(use) for use in view.history]
    return CardDetailOut(**card_out(view).model_dump(), history=history)


def use_result_out(result: UseResult) -> UseResultOut:
    return UseResultOut(use=UseOut.model_validate(result.use), uses_left=result.uses_left)
