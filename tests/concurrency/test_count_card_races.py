"""Concurrent uses of one count card on PostgreSQL never draw more uses than it holds."""

from __future__ import annotations

from sqlalchemy import func, select

from patron.core.actor import SYSTEM
from patron.count_cards import cards, products
from patron.count_cards.models import CountCard, CountCardUse
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store


def test_twenty_uses_of_a_five_use_card_over_http_take_exactly_five(api: Api) -> None:
    with api.factory.begin() as session:
        store_id = make_store(session).id
        member_id = make_member(session).id
        product = products.save_product(
            session, SYSTEM, {"name": "5次", "uses": 5, "price": 0, "validity_days": None}
        )
        card_id = cards.sell(
            session, SYSTEM, member_id, store_id, product.id, cards.Payment("cash")
        ).id

    def attempt(_: int) -> tuple[int, str]:
        response = api.post(f"/count-cards/{card_id}/uses", {"store_id": store_id})
        return int(response.status_code), response.json().get("code", "")

    results = race(20, attempt)
    assert sorted(results) == [(201, "")] * 5 + [(409, "no_uses_left")] * 15, results
    with api.factory() as session:
        assert session.get(CountCard, card_id).uses_left == 0  # type: ignore[union-attr]
        made = session.scalar(select(func.count()).where(CountCardUse.card_id == card_id))
        assert made == 5
