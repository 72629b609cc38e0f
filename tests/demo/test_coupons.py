from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.coupons import issuing, templates
from patron.coupons.evaluator import Context, evaluate
from patron.coupons.models import Coupon, CouponTemplate, CouponType
from patron.demo import brand, coupons, history, people
from patron.demo.history import HistoryGenerator
from patron.members.registry import RosterEntry
from patron.orders import service as orders
from tests.demo.test_history import NOW, STORES


class Demo:
    """Two years of demo orders for 2,000 members, and the demo's coupons handed out to them
    as the issuing service would (ids and codes made up), then used on the orders."""

    def __init__(self, seed: int, members: int = 2000) -> None:
        rng = random.Random(5)
        generator = HistoryGenerator(rng, STORES, NOW)
        self.roster = [
            RosterEntry(n, rng.randint(1, 10), "store", NOW - timedelta(days=1000 * rng.random()))
            for n in range(1, members + 1)
        ]
        member_orders = list(generator.member_orders(self.roster, {s.id: s for s in STORES}))
        self.orders = member_orders + list(generator.walk_in_orders(len(member_orders) // 2))
        self.orders.sort(key=lambda o: o.occurred_at)
        wallets = coupons.Wallets(random.Random(seed))
        self.waves = coupons.schedule(wallets.rng, self.roster, generator.start, NOW)
        self.issued: list[tuple[CouponType, issuing.IssuedCoupon, datetime]] = []
        for wave in self.waves:
            values = wave.campaign.values
            made = [
                issuing.IssuedCoupon(len(self.issued) + n, member_id, f"CODE{len(self.issued) + n}")
                for n, member_id in enumerate(wave.member_ids, 1)
            ]
            validity = issuing.coupon_validity(CouponTemplate(**values), wave.at)
            self.issued += [(values["type"], coupon, validity[1]) for coupon in made]
            wallets.hand_out(values, made, validity)
        self.uses = wallets.use_on(self.orders)


@pytest.fixture(scope="module")
def demo() -> Demo:
    return Demo(seed=2026)


def test_a_fifth_or_so_of_the_coupons_are_redeemed(demo: Demo) -> None:
    assert 0.15 <= len(demo.uses) / len(demo.issued) <= 0.30


def test_every_type_is_issued_and_redeemed(demo: Demo) -> None:
    assert {kind for kind, _, _ in demo.issued} == set(CouponType)
    assert {use.coupon.terms.type for use in demo.uses} == set(CouponType)


def test_waves_follow_the_calendar(demo: Demo) -> None:
    names = Counter(wave.campaign.values["name"] for wave in demo.waves)
    assert names["会员日 满100减20"] in (24, 25)  # monthly, two years
    assert names["美妆8.5折券 最高减30元"] in (8, 9)  # quarterly
    assert {"2025双11 满200减50", "2026双11 满200减50"} <= set(names)
    registered = {m.id: m.registered_at for m in demo.roster}
    assert all(registered[m] <= w.at for w in demo.waves for m in w.member_ids)


def test_each_coupon_is_used_once_within_its_validity_by_its_member(demo: Demo) -> None:
    assert len({use.coupon.coupon_id for use in demo.uses}) == len(demo.uses)
    assert len({id(use.order) for use in demo.uses}) == len(demo.uses)  # one coupon an order
    for use in demo.uses:
        terms = use.coupon.terms
        assert terms.member_id == use.order.member_id
        assert terms.valid_from <= use.order.occurred_at <= terms.valid_until


def test_redeeming_orders_carry_the_discount_the_till_would_accept(demo: Demo) -> None:
    """The lines as written add up, hold the coupon's discount, and the evaluator (judging
    them the way order intake does) gives exactly the amount claimed."""
    for use in demo.uses:
        order, terms = use.order, use.coupon.terms
        for line in order.lines:
            assert line.paid == line.quantity * line.unit_price - line.discount >= 0
        assert sum(line.paid for line in order.lines) > 0
        assert sum(line.discount for line in order.lines) >= use.discount > 0
        lines = [coupons._line(line) for line in order.lines]
        where = Context(order.member_id, order.store_id, order.channel, order.occurred_at)
        assert evaluate(terms, lines, where, taken=use.discount).discount == use.discount


def test_some_coupons_expire_unused_and_some_are_still_available(demo: Demo) -> None:
    used = {use.coupon.coupon_id for use in demo.uses}
    unused = [until for _, coupon, until in demo.issued if coupon.id not in used]
    assert sum(until < NOW for until in unused) > len(demo.issued) / 2
    assert sum(until >= NOW for until in unused) > 10


def test_online_orders_under_the_free_shipping_line_pay_delivery(demo: Demo) -> None:
    online = [o for o in demo.orders if o.channel in coupons.ONLINE_CHANNELS]
    charged = [o for o in online if any(ln.sku == "SHIPPING" for ln in o.lines)]
    assert charged
    for order in charged:
        goods = sum(ln.paid for ln in order.lines if ln.sku != "SHIPPING")
        assert goods < coupons.FREE_SHIPPING_FROM


def test_the_seed_gives_the_same_coupons() -> None:
    def used(seed: int) -> list[tuple[int, str, int]]:
        return [(u.coupon.coupon_id, u.order.external_id, u.discount) for u in Demo(seed, 300).uses]

    assert used(3) == used(3)
    assert used(3) != used(4)


def test_the_demo_loads_its_coupons_through_the_services(session: Session) -> None:
    """A small demo in the database: coupons issued, redeemed with the orders whose lines carry
    their discounts, the rest expired, still available or (a few) void; the Double Elevens
    ended."""
    with clock.frozen(NOW):
        brand.load(session)
        people.load(session, 300)
        history.load(session)
    statuses = Counter(session.scalars(select(Coupon.status)))
    assert 0.15 <= statuses["redeemed"] / statuses.total() <= 0.30
    assert statuses["expired"] > statuses["available"] > statuses["void"] > 0
    found = templates.list_templates(session, None, None, 50).items
    assert {t.type for t in found} == set(CouponType)
    ended = {t.name for t in found if t.status == "ended"}
    assert ended == {"2025双11 满200减50", "2026双11 满200减50"}
    for coupon in session.scalars(select(Coupon).where(Coupon.status == "redeemed")):
        assert coupon.order_id is not None
        assert coupon.discount
        order = orders.get_order(session, SYSTEM, coupon.order_id)
        assert order.member_id == coupon.member_id
        assert coupon.valid_from <= order.occurred_at <= coupon.valid_until
        assert sum(line.discount for line in orders.lines_of(session, order.id)) >= coupon.discount
