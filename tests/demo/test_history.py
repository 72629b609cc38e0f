from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from patron.core import clock
from patron.demo import history
from patron.demo.history import HistoryGenerator, StoreInfo
from patron.members.registry import RosterEntry

STORES = [
    StoreInfo(n, f"S{n:02d}", "owned" if n % 2 else "franchise", "上海" if n < 6 else "北京", True)
    for n in range(1, 11)
] + [StoreInfo(99, "EC001", "owned", "线上", True)]
# The history is generated as of one fixed moment: the seasonal checks compare a few days (three
# Double Elevens) with averages, and for about one "now" in twelve the random draw fell short.
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def orders() -> list[history.ParsedOrder]:
    rng = random.Random(5)
    now = NOW
    generator = HistoryGenerator(rng, STORES, now)
    roster = [
        RosterEntry(n, rng.randint(1, 10), "store", now - timedelta(days=1000 * rng.random()))
        for n in range(1, 2001)
    ]
    member_orders = list(generator.member_orders(roster, {s.id: s for s in STORES}))
    walk_in = int(len(member_orders) * 0.3 / 0.7)
    return member_orders + list(generator.walk_in_orders(walk_in))


def test_about_thirty_percent_have_no_member(orders: list[history.ParsedOrder]) -> None:
    share = sum(o.member_id is None for o in orders) / len(orders)
    assert 0.28 < share < 0.32


def test_purchase_rates_vary_and_some_members_go_dormant(orders: list[history.ParsedOrder]) -> None:
    per_member = Counter(o.member_id for o in orders if o.member_id is not None)
    counts = sorted(per_member.values())
    assert counts[-1] > 10 * counts[len(counts) // 2]  # heavy buyers exist
    last_seen: dict[int, datetime] = {}
    for order in orders:
        if order.member_id is not None:
            previous = last_seen.get(order.member_id, order.occurred_at)
            last_seen[order.member_id] = max(order.occurred_at, previous)
    dormant = sum(1 for at in last_seen.values() if at < NOW - timedelta(days=180))
    assert dormant > len(last_seen) * 0.15


def test_weekends_and_shopping_peaks_show(orders: list[history.ParsedOrder]) -> None:
    local = [o.occurred_at.astimezone(clock.business_tz()).date() for o in orders]
    weekday = Counter(d.weekday() for d in local)
    assert min(weekday[5], weekday[6]) > 1.2 * max(weekday[n] for n in range(5))
    by_day = Counter(local)
    double_eleven = [by_day[d] for d in by_day if (d.month, d.day) == (11, 11)]
    ordinary = [by_day[d] for d in by_day if d.month == 10 and d.weekday() < 5]
    assert min(double_eleven) > 2 * (sum(ordinary) / len(ordinary))


def test_categories_follow_store_type(orders: list[history.ParsedOrder]) -> None:
    types = {s.id: s.type for s in STORES}
    mix: dict[str, Counter[str]] = {"owned": Counter(), "franchise": Counter()}
    for order in orders:
        for line in order.lines:
            mix[types[order.store_id]][line.category_code or ""] += 1
    owned_beauty = mix["owned"]["BEAUTY"] / sum(mix["owned"].values())
    franchise_beauty = mix["franchise"]["BEAUTY"] / sum(mix["franchise"].values())
    assert owned_beauty > franchise_beauty + 0.08


def test_lines_add_up(orders: list[history.ParsedOrder]) -> None:
    for order in orders[:2000]:
        for line in order.lines:
            assert line.paid == line.quantity * line.unit_price - line.discount >= 0
        assert order.occurred_at <= NOW


def test_618_and_the_weeks_before_spring_festival_show(
    orders: list[history.ParsedOrder],
) -> None:
    local = [o.occurred_at.astimezone(clock.business_tz()).date() for o in orders]
    by_day = Counter(local)
    ordinary = [by_day[d] for d in by_day if d.month == 10 and d.weekday() < 5]
    baseline = sum(ordinary) / len(ordinary)
    six_eighteen = [by_day[d] for d in by_day if (d.month, d.day) in ((6, 16), (6, 17), (6, 18))]
    assert sum(six_eighteen) / len(six_eighteen) > 1.8 * baseline
    first, last = min(by_day), max(by_day)
    festivals = {
        f
        for f in history.SPRING_FESTIVALS.values()
        if first <= f - timedelta(days=15) and f + timedelta(days=6) <= last
    }
    assert festivals  # two years of history hold at least one whole 春节
    before = [by_day[f - timedelta(days=n)] for f in festivals for n in range(1, 15)]
    holiday = [by_day[f + timedelta(days=n)] for f in festivals for n in range(1, 6)]
    assert sum(before) / len(before) > 1.4 * baseline
    assert sum(holiday) / len(holiday) < 0.7 * baseline


def test_the_same_seed_gives_the_same_history() -> None:
    now = clock.now()

    def generate(seed: int) -> list[tuple[int | None, datetime, int]]:
        rng = random.Random(seed)
        roster = [
            RosterEntry(n, 1 + n % 10, "store", now - timedelta(days=300)) for n in range(1, 80)
        ]
        made = HistoryGenerator(rng, STORES, now).member_orders(roster, {s.id: s for s in STORES})
        return [(o.member_id, o.occurred_at, sum(ln.paid for ln in o.lines)) for o in made]

    assert generate(7) == generate(7)
    assert generate(7) != generate(8)
