"""The mall's redemption service: one burn per redemption, stock and per-member limits, the
validity window and tier, coupons and count cards issued, products handed over or shipped,
cancelling (points, stock and the reward back), merge and erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Role, member_actor
from patron.core.errors import Forbidden, InvalidInput
from patron.count_cards import products
from patron.count_cards.models import CountCard
from patron.coupons.models import Coupon, CouponStatus
from patron.mall import redemption
from patron.mall.errors import (
    CancelRefused,
    InsufficientPoints,
    ItemUnavailable,
    LimitReached,
    OutOfStock,
    TierRequired,
    WrongStatus,
)
from patron.mall.models import MallItem, MallRedemption, RedemptionStatus
from patron.members import merge, privacy
from patron.points.queries import verify
from patron.staff.service import actor_for
from patron.stores import service as stores
from patron.stores.models import StoreStatus
from patron.stores.schemas import StoreUpdate
from patron.tiers import ladder, standing
from tests.factories import make_coupon_template, make_member, make_staff, make_store
from tests.mall.helpers import available, entries, give, ledger_sum, make_item

PICKUP = redemption.Delivery


def test_a_coupon_item_burns_once_takes_stock_and_issues_the_coupons(session: Session) -> None:
    member = make_member(session)
    give(session, member.id, 2000)
    template = make_coupon_template(session)
    item = make_item(session, kind="coupon", coupon_template_id=template.id, fulfilment=[], stock=5)
    made = redemption.redeem(session, SYSTEM, member.id, item.id, 2)
    assert made.status == RedemptionStatus.completed
    assert (made.points, made.quantity) == (1000, 2)
    burns = entries(session, member.id, "burn")
    assert [(b.points, b.reason) for b in burns] == [(-1000, f"mall:{made.id}")]
    coupons = session.scalars(select(Coupon).where(Coupon.source_ref == f"mall:{made.id}")).all()
    assert len(coupons) == 2
    assert {c.source for c in coupons} == {"points_mall"}
    assert made.coupon_id == coupons[0].id
    session.refresh(item)
    assert (item.stock, item.redeemed_count) == (3, 2)
    assert available(session, member.id) == 1000
    assert verify(session) == []


def test_refusals_change_nothing(session: Session) -> None:
    member = make_member(session)
    give(session, member.id, 400)
    item = make_item(session, stock=1, per_member_limit=1)
    store = make_store(session)
    with pytest.raises(InsufficientPoints):
        redemption.redeem(session, SYSTEM, member.id, item.id, 1, PICKUP("pickup", store.id))
    give(session, member.id, 1000, "test:2")
    redemption.redeem(session, SYSTEM, member.id, item.id, 1, PICKUP("pickup", store.id))
    with pytest.raises(LimitReached):
        redemption.redeem(session, SYSTEM, member.id, item.id, 1, PICKUP("pickup", store.id))
    other = make_member(session)
    give(session, other.id, 1000)
    with pytest.raises(OutOfStock):
        redemption.redeem(session, SYSTEM, other.id, item.id, 1, PICKUP("pickup", store.id))
    assert available(session, other.id) == 1000


def test_the_validity_window_and_switching_off(session: Session) -> None:
    member = make_member(session)
    give(session, member.id, 5000)
    now = clock.now()
    later = make_item(session, kind="product", valid_from=now + timedelta(days=1))
    over = make_item(session, valid_from=now - timedelta(days=2), valid_until=now - timedelta(1))
    off = make_item(session, active=False)
    store = make_store(session)
    for item in (later, over, off):
        with pytest.raises(ItemUnavailable):
            redemption.redeem(session, SYSTEM, member.id, item.id, 1, PICKUP("pickup", store.id))


def test_the_least_tier_admits_it_and_those_above(session: Session) -> None:
    ladder.save_tier(session, SYSTEM, {"code": "normal", "name": "普通", "rank": 0})
    gold = ladder.save_tier(
        session,
        SYSTEM,
        {"code": "gold", "name": "金卡", "rank": 1, "entry_threshold": 100},
    )
    ladder.save_tier(
        session,
        SYSTEM,
        {"code": "black", "name": "黑卡", "rank": 2, "entry_threshold": 1000},
    )
    item = make_item(session, kind="product", fulfilment=["delivery"], min_tier_id=gold.id)
    plain, black = make_member(session), make_member(session)
    for member in (plain, black):
        give(session, member.id, 1000)
    standing.set_tier(session, SYSTEM, black.id, "black", "test")
    ship = PICKUP("delivery", None, "张三", "13800000000", "上海市南京西路1号")
    with pytest.raises(TierRequired):
        redemption.redeem(session, SYSTEM, plain.id, item.id, 1, ship)
    made = redemption.redeem(session, SYSTEM, black.id, item.id, 1, ship)
    assert made.status == RedemptionStatus.pending
    assert made.address == "上海市南京西路1号"


def test_fulfilment_is_checked_and_products_are_handed_over_or_shipped(session: Session) -> None:
    store, other_store = make_store(session), make_store(session)
    cashier = make_staff(session, Role.cashier, [store])
    till = actor_for(session, cashier)
    member = make_member(session, store)
    give(session, member.id, 5000)
    item = make_item(session, fulfilment=["pickup"])
    with pytest.raises(InvalidInput) as refused:
        redemption.redeem(session, SYSTEM, member.id, item.id, 1, PICKUP("delivery"))
    assert refused.value.extra["errors"][0]["code"] == "fulfilment_not_offered"
    with pytest.raises(InvalidInput):
        redemption.redeem(session, till, member.id, item.id, 1, PICKUP("pickup", other_store.id))
    # The only way offered is taken when none is named.
    made = redemption.redeem(session, till, member.id, item.id, 1, PICKUP(None, store.id))
    assert made.status == RedemptionStatus.pending
    assert made.store_id == store.id
    done = redemption.hand_over(session, till, made.id)
    assert (done.status, done.handled_by) == (RedemptionStatus.handed_over, cashier.username)
    with pytest.raises(WrongStatus):
        redemption.cancel(session, SYSTEM, made.id, "too late")
    sent = make_item(session, fulfilment=["delivery"])
    parcel = redemption.redeem(
        session, SYSTEM, member.id, sent.id, 1, PICKUP("delivery", None, "李四", "138", "北京")
    )
    with pytest.raises(WrongStatus):
        redemption.hand_over(session, SYSTEM, parcel.id)
    assert redemption.ship(session, SYSTEM, parcel.id, "SF123").tracking == "SF123"


def test_a_pick_up_at_a_closed_store_is_refused(session: Session) -> None:
    store, closed = make_store(session), make_store(session)
    stores.update_store(session, SYSTEM, closed.id, StoreUpdate(status=StoreStatus.closed))
    member = make_member(session, store)
    give(session, member.id, 5000)
    item = make_item(session, fulfilment=["pickup"])
    me = member_actor(member.id)
    with pytest.raises(InvalidInput) as refused:
        redemption.redeem(session, me, member.id, item.id, 1, PICKUP("pickup", closed.id))
    assert refused.value.extra["errors"][0]["code"] == "store_closed"
    assert available(session, member.id) == 5000
    made = redemption.redeem(session, me, member.id, item.id, 1, PICKUP("pickup", store.id))
    assert made.store_id == store.id


def test_cancel_gives_back_points_stock_and_an_unused_coupon(session: Session) -> None:
    member = make_member(session)
    give(session, member.id, 1000)
    template = make_coupon_template(session)
    item = make_item(session, kind="coupon", coupon_template_id=template.id, fulfilment=[])
    item.stock = 3
    made = redemption.redeem(session, SYSTEM, member.id, item.id, 1)
    redemption.cancel(session, SYSTEM, made.id, "changed mind")
    assert made.status == RedemptionStatus.cancelled
    assert made.cancel_reason == "changed mind"
    assert available(session, member.id) == 1000 == ledger_sum(session, member.id)
    restores = entries(session, member.id, "refund_restore")
    assert [(e.points, e.reason) for e in restores] == [(500, f"mall:{made.id} cancelled")]
    session.refresh(item)
    assert (item.stock, item.redeemed_count) == (3, 0)
    coupon = session.get(Coupon, made.coupon_id)
    assert coupon is not None
    assert coupon.status == CouponStatus.void
    with pytest.raises(WrongStatus):
        redemption.cancel(session, SYSTEM, made.id, "again")
    assert verify(session) == []
    # A coupon used since: the redemption stays.
    again = redemption.redeem(session, SYSTEM, member.id, item.id, 1)
    used = session.get(Coupon, again.coupon_id)
    assert used is not None
    used.status = CouponStatus.redeemed.value
    used.redeemed_at = clock.now()
    session.flush()
    with pytest.raises(CancelRefused):
        redemption.cancel(session, SYSTEM, again.id, "no")


def test_a_count_card_item_gives_a_card_and_cancel_ends_it(session: Session) -> None:
    member = make_member(session)
    give(session, member.id, 3000)
    product = products.save_product(session, SYSTEM, {"name": "洗车5次", "uses": 5, "price": 0})
    item = make_item(
        session, kind="count_card", count_card_product_id=product.id, fulfilment=[], cash_price=990
    )
    made = redemption.redeem(session, SYSTEM, member.id, item.id, 1)
    card = session.get(CountCard, made.count_card_id)
    assert card is not None
    assert card.uses_left == 5
    assert card.price == 990 == made.cash
    redemption.cancel(session, SYSTEM, made.id, "refund")
    assert card.uses_left == 0
    assert available(session, member.id) == 3000


def test_a_member_redeems_for_themselves_only(session: Session) -> None:
    me, other = make_member(session), make_member(session)
    give(session, me.id, 1000)
    give(session, other.id, 1000)
    item = make_item(session, fulfilment=["delivery"])
    ship = PICKUP("delivery", None, "王五", "139", "广州")
    with pytest.raises(Forbidden):
        redemption.redeem(session, member_actor(me.id), other.id, item.id, 1, ship)
    made = redemption.redeem(session, member_actor(me.id), me.id, item.id, 1, ship, channel="m")
    assert made.member_id == me.id
    mine = redemption.list_redemptions(session, member_actor(other.id), None, 50)
    assert list(mine.items) == []


def test_merge_moves_redemptions_and_erasure_clears_the_address(session: Session) -> None:
    source, target = make_member(session), make_member(session)
    give(session, source.id, 1000)
    item = make_item(session, fulfilment=["delivery"], per_member_limit=1)
    made = redemption.redeem(
        session, SYSTEM, source.id, item.id, 1, PICKUP("delivery", None, "赵六", "137", "深圳")
    )
    merge.merge_members(session, SYSTEM, source.id, target.id)
    session.refresh(made)
    assert made.member_id == target.id
    assert redemption.remaining_for(session, item, target.id) == 0
    # Cancelled after the merge: the points go to the survivor.
    redemption.cancel(session, SYSTEM, made.id, "merged")
    assert available(session, target.id) == 1000
    assert verify(session) == []
    privacy.erase_member(session, SYSTEM, target.id, "asked")
    session.refresh(made)
    assert (made.address, made.recipient_name, made.recipient_mobile) == (None, None, None)
    assert made.points == 500
    assert session.get(MallItem, item.id) is not None
    assert session.scalars(select(MallRedemption)).all() == [made]
