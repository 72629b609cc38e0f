from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.count_cards.models import CountCard, CountCardUse
from patron.demo import brand, history, loyalty, people
from patron.demo import stored_value as demo
from patron.demo.history import HistoryGenerator
from patron.members.registry import RosterEntry
from patron.orders.models import Order
from patron.points.models import PointsEntry
from patron.stored_value import ledger, reports
from patron.stored_value.models import EntryKind, Recharge, StoredValueEntry
from tests.demo.test_history import NOW, STORES

ONLINE = 99  # tests.demo.test_history's EC001


def planned(seed: int, members: int = 2000) -> demo.Plan:
    rng = random.Random(5)
    generator = HistoryGenerator(rng, STORES, NOW)
    roster = [
        RosterEntry(n, rng.randint(1, 10), "store", NOW - timedelta(days=1000 * rng.random()))
        for n in range(1, members + 1)
    ]
    member_orders = list(generator.member_orders(roster, {s.id: s for s in STORES}))
    ordered = sorted(
        member_orders + list(generator.walk_in_orders(len(member_orders) // 2)),
        key=lambda o: o.occurred_at,
    )
    home = {m.id: m.store_id for m in roster}
    return demo.Planner(random.Random(seed), home, ONLINE, NOW).plan(ordered)


@pytest.fixture(scope="module")
def plan() -> demo.Plan:
    return planned(2026)


def test_a_third_of_the_members_recharge_packages_and_amounts(plan: demo.Plan) -> None:
    members = {r.member_id for r in plan.recharges}
    assert 0.30 <= len(members) / 2000 <= 0.36
    choices = Counter(r.choice for r in plan.recharges)
    assert {"充500送50", "充1000送150", 20000, 30000, 50000} == set(choices)
    assert all(NOW - demo.LAUNCH - timedelta(hours=1) <= r.at < NOW for r in plan.recharges)
    online = sum(r.store_id is None for r in plan.recharges)
    assert 0 < online < len(plan.recharges) / 4  # a few online, belonging to HQ


def test_balances_never_go_negative_nor_over_the_cap(plan: demo.Plan) -> None:
    """The plan, step by step as the services will take it: every spend (orders and cards
    from the balance) is covered, and no recharge passes the ¥5,000 cap."""
    held: dict[int, int] = defaultdict(int)
    for step in plan.steps:
        if isinstance(step, demo.Recharge) and step.taken_back_at is None:
            held[step.member_id] += sum(demo._amounts(step.choice))
            assert held[step.member_id] <= 500000
        elif isinstance(step, demo.Spend):
            held[step.order.member_id or 0] -= step.amount
            assert held[step.order.member_id or 0] >= 0
        elif isinstance(step, demo.CardSale) and step.method == "stored_value":
            held[step.member_id] -= dict((p[0], p[4]) for p in demo.CARD_PRODUCTS)[step.product]
            assert held[step.member_id] >= 0
        elif isinstance(step, demo.AccountRefund):
            assert held[step.member_id] >= 10000
            held[step.member_id] = 0
    assert {m: b for m, b in held.items() if b} == {m: b for m, b in plan.balances.items() if b}


def test_orders_paid_from_the_balance_say_so_and_follow_a_recharge(plan: demo.Plan) -> None:
    first = {}
    for recharge in plan.recharges:
        first.setdefault(recharge.member_id, recharge.at)
    assert len(plan.spends) > len(plan.recharges) / 2
    for spend in plan.spends:
        assert {line.payment_method for line in spend.order.lines} == {"stored_value"}
        assert spend.amount == sum(line.paid for line in spend.order.lines)
        assert first[spend.order.member_id or 0] < spend.order.occurred_at


def test_a_few_refunds_and_count_cards(plan: demo.Plan) -> None:
    taken_back = [r for r in plan.recharges if r.taken_back_at is not None]
    assert 1 <= len(taken_back) <= 20
    for recharge in taken_back:
        assert recharge.at < recharge.taken_back_at < recharge.at + timedelta(days=7)  # type: ignore[operator]
        assert all(s.order.member_id != recharge.member_id for s in plan.spends)
    assert len([s for s in plan.steps if isinstance(s, demo.AccountRefund)]) == 1
    sales = [s for s in plan.steps if isinstance(s, demo.CardSale)]
    assert 5 <= len(sales) <= 20
    uses = [s for s in plan.steps if isinstance(s, demo.CardUse)]
    assert all(use.sale.at < use.at < NOW for use in uses)
    assert len(uses) > len(sales)


def test_the_seed_gives_the_same_plan() -> None:
    def steps(seed: int) -> list[tuple[str, object]]:
        return [(type(s).__name__, demo._moment(s)) for s in planned(seed, 300).steps]

    assert steps(3) == steps(3)
    assert steps(3) != steps(4)


@pytest.fixture
def more_of_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small demo shows each kind of movement at least once."""
    monkeypatch.setattr(demo, "RECHARGERS", 0.4)
    monkeypatch.setattr(demo, "USE", 0.8)
    monkeypatch.setattr(demo, "COOLING_OFF", 0.1)
    monkeypatch.setattr(demo, "CARD_BUYERS", 0.05)
    monkeypatch.setattr(demo, "ORDER_REFUNDS", 0.2)


@pytest.mark.usefixtures("more_of_everything")
def test_the_demo_loads_its_stored_value_through_the_services(session: Session) -> None:
    """A small demo in the database: the ledger verifies, every kind of movement is there,
    settlement has stores owing HQ and stores owed by HQ and reconciles with the ledger, an
    order paid partly from bonus earns on its principal only, count cards are sold and used."""
    with clock.frozen(NOW):
        brand.load(session)
        people.load(session, 300)
        history.load(session)
        loyalty.load(session)
        refunded = demo.refund_orders(session, 2026)
        summary = demo.summary(session, refunded)
    assert ledger.verify(session) == []
    assert refunded > 0
    assert "members recharged" in summary
    kinds = Counter(session.scalars(select(StoredValueEntry.kind)))
    assert {"recharge", "bonus", "spend", "spend_reversal", "refund"} <= set(kinds)
    assert session.scalar(select(func.count()).where(Recharge.status == "refunded"))

    period = reports.Period(
        (NOW - demo.LAUNCH - timedelta(days=2)).date(), (NOW + timedelta(days=1)).date()
    )
    settled = reports.settlement(session, SYSTEM, period)
    nets = {row.store_id: row.figures.net for row in settled.rows}
    assert any(net > 0 for store_id, net in nets.items() if store_id is not None)
    assert any(net < 0 for store_id, net in nets.items() if store_id is not None)
    assert nets.get(None, 0) > 0  # online recharges, held by HQ
    principal_moved = session.scalar(
        select(func.sum(StoredValueEntry.principal)).where(
            StoredValueEntry.kind.in_([k.value for k in reports.SETTLED_KINDS])
        )
    )
    assert settled.totals.net == principal_moved

    bonus = ledger.bonus_spent(session, list(session.scalars(select(StoredValueEntry.order_id))))
    order_id, taken = next((o, b) for o, b in sorted(bonus.items()) if b >= 100)
    total = session.scalar(select(Order.total).where(Order.id == order_id)) or 0
    earned = session.scalar(
        select(PointsEntry.points).where(
            PointsEntry.order_id == order_id, PointsEntry.kind == "earn"
        )
    )
    assert earned == (total - taken) // 100

    cards = list(session.scalars(select(CountCard)))
    assert cards
    assert session.scalar(select(func.count()).select_from(CountCardUse))
    assert session.scalar(
        select(func.count()).where(
            StoredValueEntry.count_card_id.is_not(None),
            StoredValueEntry.kind == EntryKind.spend.value,
        )
    )
