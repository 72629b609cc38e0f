"""Random redemptions and cancellations by a few members of a few items: after every step each
member's ledger sums to their balance (and the points service agrees with itself), each limited
item's stock plus what is redeemed equals its first stock, and no member holds more of an item
than its per-member limit; a refused step changes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.mall import redemption
from patron.mall.models import MallItem, MallRedemption
from patron.points.queries import verify
from tests.factories import make_coupon_template, make_member, make_store
from tests.mall.helpers import available, give, ledger_sum, make_item

STOCKS = (3, 5, None)
LIMITS = (2, None, 1)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("redeem"), st.integers(0, 2), st.integers(0, 2), st.integers(1, 3)),
        st.tuples(st.just("cancel"), st.integers(0, 30), st.just(0), st.just(0)),
        st.tuples(st.just("give"), st.integers(0, 2), st.just(0), st.integers(1, 8)),
    ),
    min_size=1,
    max_size=25,
)


def check(session: Session, members: list[int], item_ids: list[int]) -> None:
    assert verify(session) == []
    for member_id in members:
        assert ledger_sum(session, member_id) == available(session, member_id)
    rows = session.execute(
        select(MallRedemption.member_id, MallRedemption.item_id, func.sum(MallRedemption.quantity))
        .where(MallRedemption.status != "cancelled")
        .group_by(MallRedemption.member_id, MallRedemption.item_id)
    )
    live = {(member_id, item_id): int(total) for member_id, item_id, total in rows}
    for item_id, first, limit in zip(item_ids, STOCKS, LIMITS, strict=True):
        item = session.get(MallItem, item_id)
        assert item is not None
        session.refresh(item)
        held = sum(total for (_, i), total in live.items() if i == item_id)
        assert item.redeemed_count == held
        if first is not None:
            assert item.stock is not None
            assert item.stock >= 0
            assert item.stock + item.redeemed_count == first
        if limit is not None:
            assert all(total <= limit for (_, i), total in live.items() if i == item_id)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
def test_points_stock_and_limits_hold_over_random_redemptions(
    session: Session, script: list[tuple[str, int, int, int]]
) -> None:
    with session.begin_nested() as savepoint:
        store = make_store(session)
        members = [make_member(session, store).id for _ in range(3)]
        for member_id in members:
            give(session, member_id, 1000)
        template = make_coupon_template(session)
        item_ids = [
            make_item(
                session,
                kind="coupon",
                coupon_template_id=template.id,
                fulfilment=[],
                points_price=300,
                stock=STOCKS[0],
                per_member_limit=LIMITS[0],
            ).id,
            make_item(session, points_price=200, stock=STOCKS[1], per_member_limit=LIMITS[1]).id,
            make_item(session, points_price=150, stock=STOCKS[2], per_member_limit=LIMITS[2]).id,
        ]
        gifts = 0
        for kind, a, b, n in script:
            with session.begin_nested() as step:
                try:
                    if kind == "redeem":
                        way = redemption.Delivery("pickup", store.id) if b else None
                        redemption.redeem(session, SYSTEM, members[a], item_ids[b], n, way)
                    elif kind == "cancel":
                        made = session.scalars(
                            select(MallRedemption.id).order_by(MallRedemption.id)
                        ).all()
                        if made:
                            redemption.cancel(session, SYSTEM, made[a % len(made)], "test")
                    else:
                        gifts += 1
                        give(session, members[a], n * 100, f"gift:{gifts}")
                except PatronError:
                    step.rollback()  # a refused request changes nothing, as at the API edge
            check(session, members, item_ids)
        savepoint.rollback()
