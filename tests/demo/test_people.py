from __future__ import annotations

import random
import re
from datetime import timedelta

from patron.core import clock
from patron.demo import people

MOBILE = re.compile(r"^\+861[3-9]\d{9}$")


def sample(seed: int, count: int = 2000) -> list[people.ParsedRow]:
    guides = {1: [10, 11], 2: [12]}
    return list(people.generate(random.Random(seed), count, [1, 2, 3], guides))


def test_demo_members_are_plausible() -> None:
    rows = sample(7)
    assert len({r.mobile for r in rows}) == len(rows)
    assert all(MOBILE.match(r.mobile) for r in rows)
    names = [r.fields["name"] for r in rows]
    assert all(2 <= len(n) <= 4 for n in names)
    assert len(set(names)) > len(rows) / 4
    oldest = clock.now() - timedelta(days=365 * people.YEARS + 1)
    assert all(oldest <= r.fields["registered_at"] <= clock.now() for r in rows)
    channels = {r.fields["channel"] for r in rows}
    assert channels == {"store", "mini_program", "online"}
    assert all("store_id" not in r.fields for r in rows if r.fields["channel"] == "online")
    with_guides = [r for r in rows if "guide_id" in r.fields]
    assert all(
        r.fields["guide_id"] in {1: [10, 11], 2: [12]}[r.fields["store_id"]] for r in with_guides
    )
    births = [r.fields["birthday"] for r in rows if "birthday" in r.fields]
    ages = [(clock.today() - b).days / 365.25 for b in births]
    assert min(ages) >= 17.9
    assert 25 < sum(ages) / len(ages) < 50


def test_the_seed_reproduces_the_data() -> None:
    assert [r.mobile for r in sample(1, 50)] == [r.mobile for r in sample(1, 50)]
    assert [r.mobile for r in sample(1, 50)] != [r.mobile for r in sample(2, 50)]
