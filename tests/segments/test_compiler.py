"""The compiled rules against the Python evaluator over generated members, and hand-checked
cases for each field and function."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.catalog.models import Category
from patron.core import clock
from patron.segments import compiler, rules
from patron.stores.models import Store
from patron.tags.models import MemberTag, Tag
from patron.tiers.models import MemberTier
from tests.factories import make_member, make_order, make_store
from tests.segments import evaluator
from tests.segments.world import NOW, build
from tests.tiers.helpers import make_ladder

RULES = [
    "recency_days <= 30",
    "recency_days = 10 or recency_days between 100 and 200",
    "not recency_days > 60",
    "recency_days in (0, 1, 2, 3) or recency_days != 5",
    "frequency >= 2 and monetary > 5000",
    "frequency = 0",
    "monetary < 100",
    "aov between 100 and 5000",
    'rfm_class = "important_value" or rfm_class in ("general_winback", "general_value")',
    'not rfm_class = "important_value"',
    'lifecycle = "prospect"',
    'lifecycle not in ("active", "new")',
    "clv_365 > 0",
    "not clv_365 >= 3000",
    'tier = "normal"',
    'tier in ("gold", "diamond")',
    'tier != "silver"',
    'tier not in ("gold")',
    'tier >= "silver"',
    'tier < "gold" or tier > "platinum"',
    "points >= 1000",
    "points < 10",
    "stored_value > 20000 or stored_value = 0",
    "registered_days > 200",
    "registered_days between 0 and 100",
    "birthday_month = 5",
    "birthday_month between 3 and 7 or birthday_month > 11",
    "not birthday_month != 1",
    "birthday_month in (-1, 0, 13, 12)",
    'store = "S1"',
    'store != "S2"',
    'store in ("S9")',
    'not store = "S1"',
    'guide = "alice"',
    'guide != "nobody"',
    'channel in ("store", "online")',
    'attr("kids") = 2',
    'attr("kids") in (0, 1)',
    'attr("kids") != 3',
    'attr("baby_birthday") >= "2024-06-01"',
    'attr("passport") = "E123"',
    'not attr("nothing") = 1',
    'tag("投诉")',
    'not tag("vip")',
    'tag("x\\" or 1=1")',
    'consent("sms") and not consent("email")',
    "spent(days=90) >= 5000",
    "spent(days=30) < 3000",
    "spent() > 0",
    'spent(category="母婴", days=90) >= 2000',
    'spent(category="MILK") = 0',
    'spent(store="S1", channel="pos") between 1 and 8000',
    'spent(category="nothing") >= 0',
    "orders(days=30) >= 1",
    'orders(days=60, store="S2") = 0',
    'orders(category="BABY") >= 2',
    'orders(channel="online_mall") != 1',
    'bought(sku="A1", days=180)',
    'bought(sku="C1", days=30)',
    'not bought(sku="B1")',
    'coupon(template="W100", status="available")',
    'coupon(template="满100减20", status="void") or coupon(template="W100", status="expired")',
    'coupon(template="W100", status="redeemed")',
    'tier in ("gold","diamond") and spent(category="母婴", days=90) >= 50000 and not tag("投诉")',
]


@pytest.fixture
def world(session: Session) -> evaluator.World:
    build(session, seed=17, count=30)
    return evaluator.load(session, NOW)


def _compiled(session: Session, rule: rules.Rule, store_ids: list[int] | None = None) -> list[int]:
    query = compiler.member_ids(session, rule, NOW, store_ids).order_by(compiler.Member.id)
    return list(session.scalars(query))


def test_compiled_rules_match_whom_the_evaluator_does(
    session: Session, world: evaluator.World
) -> None:
    wrong = []
    trivial = 0
    for text in RULES:
        rule = rules.parse(text)
        for each in (rule, rules.Not(rule)):
            expected = world.matching(each)
            if _compiled(session, each) != expected:
                wrong.append(str(each))
            trivial += not expected
    assert wrong == []
    assert trivial < len(RULES) // 3  # the generated members make most rules match someone


def test_store_scoping_counts_only_the_stores_members(
    session: Session, world: evaluator.World
) -> None:
    s1 = session.scalar(select(Store.id).where(Store.code == "S1"))
    assert s1 is not None
    for text in ("frequency >= 0", 'tier in ("gold", "diamond") or tag("vip")', 'not store = "S1"'):
        rule = rules.parse(text)
        assert _compiled(session, rule, [s1]) == world.matching(rule, {"S1"})
        assert _compiled(session, rule, []) == []


def test_the_issues_example_by_hand(session: Session) -> None:
    store = make_store(session, "SH001")
    tiers = {t.code: t for t in make_ladder(session)}
    baby = Category(code="BABY", name="母婴")
    session.add(baby)
    session.flush()
    session.add(Category(code="MILK", name="奶粉", parent_id=baby.id))
    complaint = Tag(name="投诉")
    session.add(complaint)
    session.flush()

    def member(tier: str, paid: int, days_ago: int, category: str = "MILK") -> int:
        m = make_member(session, store)
        session.add(MemberTier(member_id=m.id, tier_id=tiers[tier].id, since=NOW))
        item = {
            "sku": f"SKU-{category}",
            "name": "x",
            "category_code": category,
            "quantity": 1,
            "unit_price": paid,
            "discount": 0,
            "paid": paid,
        }
        with clock.frozen(NOW):
            make_order(
                session,
                store,
                m,
                items=[item],
                occurred_at=(NOW - timedelta(days=days_ago)).isoformat(),
                payments=[{"method": "cash", "amount": paid}],
            )
        return m.id

    match = member("gold", 50000, 10)
    diamond = member("diamond", 60000, 89)
    complained = member("gold", 50000, 10)
    session.add(MemberTag(member_id=complained, tag_id=complaint.id, source="manual"))
    member("silver", 90000, 10)  # tier
    member("gold", 49999, 10)  # too little
    member("gold", 50000, 91)  # too long ago
    member("diamond", 50000, 10, category="CARE")  # not 母婴
    session.flush()
    rule = rules.parse(
        'tier in ("gold","diamond") and spent(category="母婴", days=90) >= 50000'
        ' and not tag("投诉")'
    )
    assert _compiled(session, rule) == [match, diamond]
