"""Random uses, revokes, clock advances, merges and package refunds on a few cards: after every
step each card's uses_left equals its uses less its live (unrevoked) uses, or 0 once voided, and
never leaves 0..uses; a refused step changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.count_cards import cards, products, uses
from patron.count_cards.models import CountCard, CountCardUse
from patron.members import merge as member_merge
from patron.stored_value import packages, recharges
from patron.stored_value.models import Recharge, RechargeStatus
from tests.factories import make_member, make_store

START = datetime(2026, 3, 2, 2, tzinfo=UTC)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("use"), st.integers(0, 3)),
        st.tuples(st.just("revoke"), st.integers(0, 30)),
        st.tuples(st.just("advance"), st.integers(1, 12)),
        st.tuples(st.just("merge"), st.integers(0, 1)),
        st.tuples(st.just("refund"), st.integers(0, 0)),
    ),
    min_size=1,
    max_size=30,
)


def check(session: Session) -> None:
    live = dict(
        session.execute(
            select(CountCardUse.card_id, func.count())
            .where(CountCardUse.revoked_at.is_(None))
            .group_by(CountCardUse.card_id)
        ).all()
    )
    for card, recharge in session.execute(
        select(CountCard, Recharge.status).outerjoin(Recharge, Recharge.id == CountCard.recharge_id)
    ):
        assert 0 <= card.uses_left <= card.uses
        if recharge == RechargeStatus.refunded:
            assert (card.uses_left, live.get(card.id, 0)) == (0, 0)
        else:
            assert card.uses_left == card.uses - live.get(card.id, 0)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
def test_uses_left_always_equals_uses_less_live_uses(
    session: Session, script: list[tuple[str, int]]
) -> None:
    with session.begin_nested() as savepoint:
        store = make_store(session)
        members = [make_member(session, store).id, make_member(session, store).id]
        product = products.save_product(
            session, SYSTEM, {"name": "3次", "uses": 3, "validity_days": 2, "price": 100}
        )
        package = packages.save_package(
            session,
            SYSTEM,
            {
                "name": "充100",
                "pay": 10000,
                "count_cards": [{"product_id": product.id, "count": 1}],
            },
        )
        now = START
        with clock.frozen(now):
            held = [
                cards.sell(session, SYSTEM, m, store.id, product.id, cards.Payment("cash")).id
                for m in members
            ]
            record = recharges.recharge(
                session,
                SYSTEM,
                members[0],
                store.id,
                recharges.Payment("cash", ""),
                package_id=package.id,
            )
        card_ids = [*held, *(c.id for c in cards.lock_package_cards(session, record.id))]
        for kind, n in script:
            if kind == "advance":
                now += timedelta(hours=n)
                continue
            with clock.frozen(now), session.begin_nested() as step:
                try:
                    if kind == "use":
                        uses.use_card(session, SYSTEM, card_ids[n % len(card_ids)], store.id)
                    elif kind == "revoke":
                        use = session.scalars(select(CountCardUse).order_by(CountCardUse.id)).all()
                        if use:
                            chosen = use[n % len(use)]
                            uses.revoke_use(session, SYSTEM, chosen.card_id, chosen.id)
                    elif kind == "merge":
                        member_merge.merge_members(session, SYSTEM, members[n], members[1 - n])
                    else:
                        recharges.refund_recharge(session, SYSTEM, record.id)
                except PatronError:
                    step.rollback()  # a refused request changes nothing, as at the API edge
            check(session)
        savepoint.rollback()
