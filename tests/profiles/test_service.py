from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.members import merge, privacy
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.profiles import service
from patron.profiles.models import MemberProfile, ProfileWatermark
from tests.factories import make_member, make_order, make_store

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, tzinfo=SH)


def at(day: str, hour: int = 10) -> str:
    return f"2026-{day}T{hour:02d}:00:00+08:00"


def profiles(session: Session) -> dict[int, MemberProfile]:
    session.expire_all()
    return {p.member_id: p for p in session.scalars(select(MemberProfile))}


def test_refresh_builds_facts_preferences_and_stages(session: Session) -> None:
    a, b = make_store(session, "A01"), make_store(session, "B01")
    buyer, prospect, refunded = (make_member(session) for _ in range(3))
    make_order(session, a, buyer, occurred_at=at("01-05"))  # Monday 10:00, 12,000 fen
    make_order(session, a, buyer, occurred_at=at("02-20", 19))
    make_order(session, b, buyer, occurred_at=at("02-20", 20), channel="mini_program")
    later = make_order(session, b, buyer, occurred_at=at("03-02"))  # after now: ignored
    gone = make_order(session, a, refunded, occurred_at=at("02-01"))
    orders.refund_order(session, SYSTEM, gone.id, RefundCreate(all=True))
    assert later.id

    report = service.refresh(session, NOW)

    found = profiles(session)
    assert report.members == len(found) >= 3
    mine = found[buyer.id]
    assert (mine.orders_lifetime, mine.monetary_lifetime, mine.purchase_days) == (3, 36000, 2)
    assert mine.aov == 12000
    assert mine.orders_window == 3
    assert mine.first_purchase_at == datetime(2026, 1, 5, 2, tzinfo=ZoneInfo("UTC"))
    assert mine.last_purchase_at == datetime(2026, 2, 20, 12, tzinfo=ZoneInfo("UTC"))
    assert mine.preferred_stores == [a.id, b.id]
    assert mine.preferred_channels == ["pos", "mini_program"]
    assert len(mine.preferred_categories) == 2
    assert mine.preferred_weekday == 4  # two orders on Friday 20 February
    assert mine.preferred_hour in (10, 19, 20)
    assert mine.lifecycle == "active"
    assert mine.rfm_class is not None
    assert found[prospect.id].lifecycle == "prospect"
    assert found[prospect.id].preferred_stores == []
    assert found[refunded.id].orders_lifetime == 0
    assert found[refunded.id].lifecycle == "prospect"
    assert report.buyers == 1
    assert report.lifecycle["active"] == 1
    assert report.clv_skipped is not None  # too little data


def test_similar_members_categories(session: Session) -> None:
    store = make_store(session)
    item = {"quantity": 1, "unit_price": 1000, "discount": 0, "paid": 1000}
    bodies = {
        "BABY": [("BABY", 5000), ("TOYS", 1000)],
        "BABY2": [("BABY", 5000), ("TOYS", 1000), ("BOOKS", 500)],
        "ALONE": [("BABY", 5000)],
    }
    buyers = {}
    for key, lines in bodies.items():
        member = make_member(session)
        buyers[key] = member
        items = [
            {**item, "sku": f"{c}-1", "name": c, "category_code": c, "paid": p, "unit_price": p}
            for c, p in lines
        ]
        total = sum(p for _, p in lines)
        make_order(
            session, store, member, items=items, payments=[{"method": "cash", "amount": total}]
        )
    service.refresh(session, NOW)
    found = profiles(session)
    alone = found[buyers["ALONE"].id]
    assert len(alone.similar_categories) == 2  # TOYS (2 members), then BOOKS (1)
    toys_first = found[buyers["BABY"].id].similar_categories
    assert len(toys_first) == 1  # BOOKS: the one it does not buy


def test_facts_job_folds_new_orders_past_the_watermark(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "FACTS_BATCH", 1)  # one member per statement
    store = make_store(session)
    member, newcomer = make_member(session), make_member(session)
    make_order(session, store, member, occurred_at=at("01-05"))
    assert service.update_facts(session, NOW) == 0  # no refresh yet
    service.refresh(session, NOW)
    make_order(session, store, member, occurred_at=at("02-27"))
    make_order(session, store, newcomer, occurred_at=at("02-28"))
    assert service.update_facts(session, NOW) == 2
    found = profiles(session)
    assert found[member.id].orders_lifetime == 2
    assert found[newcomer.id].lifecycle == "new"
    assert found[newcomer.id].preferred_stores == []  # preferences wait for the refresh
    mark = session.get(ProfileWatermark, 1)
    assert mark is not None
    assert mark.order_id > 0
    monkeypatch.setattr(service, "WATERMARK_MARGIN", 0)
    assert service.update_facts(session, NOW) == 0


def test_facts_job_reads_orders_committed_after_a_later_one(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order whose id is below the watermark (its transaction committed after a later
    order's was read) is folded in by the next run, within the margin."""
    store = make_store(session)
    member = make_member(session)
    service.refresh(session, NOW)
    late = make_order(session, store, member, occurred_at=at("02-27"))
    mark = session.get(ProfileWatermark, 1)
    assert mark is not None
    mark.order_id = late.id + 10  # as if orders up to here had been read before it committed
    assert service.update_facts(session, NOW) == 1
    assert profiles(session)[member.id].orders_lifetime == 1
    monkeypatch.setattr(service, "WATERMARK_MARGIN", 5)
    mark.order_id = late.id + 10
    assert service.update_facts(session, NOW) == 0  # beyond the margin: left to the refresh


def test_merge_and_erasure_drop_profiles(session: Session) -> None:
    store = make_store(session)
    source, target, erased = (make_member(session) for _ in range(3))
    make_order(session, store, source, occurred_at=at("02-01"))
    service.refresh(session, NOW)
    merge.merge_members(session, SYSTEM, source.id, target.id)
    privacy.erase_member(session, SYSTEM, erased.id, "asked")
    found = profiles(session)
    assert source.id not in found
    assert erased.id not in found
    assert found[target.id].orders_lifetime == 1
    service.refresh(session, NOW + timedelta(days=1))
    found = profiles(session)
    assert source.id not in found
    assert erased.id not in found


def test_member_never_refreshed_gets_live_facts(session: Session) -> None:
    store = make_store(session)
    member = make_member(session)
    make_order(session, store, member, occurred_at=at("02-27"))
    view = service.member_profile(session, member.id, NOW)
    assert view.orders_lifetime == 1
    assert view.lifecycle == "new"
    assert view.recency_days == 2
    assert view.refreshed_at is None


def test_member_facts_per_business_day(session: Session) -> None:
    from sqlalchemy import literal

    from patron.profiles import facts as sql

    store = make_store(session)
    member = make_member(session)
    make_order(session, store, member, occurred_at="2026-02-01T23:30:00+08:00")  # 15:30 UTC
    make_order(session, store, member, occurred_at="2026-02-01T00:30:00+08:00")  # 31 Jan UTC
    make_order(session, store, member, occurred_at="2026-02-03T10:00:00+08:00")
    local = sql.local_for(session, NOW)
    row = session.execute(sql.member_facts(local, NOW, 365, select(literal(member.id)))).one()
    assert row.purchase_days == 2
    assert row.first_day_value == 24000
    assert row.last_day - row.first_day == 2
    assert row.first_day == sql.day_number(datetime(2026, 2, 1, 12, tzinfo=SH))


def test_refresh_matches_a_reference_computed_in_python(session: Session) -> None:
    """Facts and preferences (ties included) against a plain Python computation: the same
    definitions on both databases, whichever path each takes."""
    import random
    from collections import Counter, defaultdict

    rng = random.Random(17)
    stores_ = [make_store(session, f"R{i:02d}") for i in range(3)]
    buyers = [make_member(session) for _ in range(12)]
    kept: list[tuple[int, int, str, datetime, int]] = []  # member, store, channel, time, net
    for member in buyers:
        for _ in range(rng.randint(0, 8)):
            store = rng.choice(stores_)
            channel = rng.choice(["pos", "mini_program"])
            day = datetime(2025, 1, 1, tzinfo=SH) + timedelta(days=rng.randint(0, 440))
            moment = day.replace(hour=rng.choice([0, 9, 10, 23]), minute=rng.choice([0, 30]))
            paid = rng.choice([1000, 2000, 3000])
            order = make_order(
                session,
                store,
                member,
                channel=channel,
                occurred_at=moment.isoformat(),
                items=[
                    {"sku": "S", "name": "x", "category_code": "CARE", "quantity": 1,
                     "unit_price": paid, "discount": 0, "paid": paid}
                ],
                payments=[{"method": "wechat_pay", "amount": paid}],
            )  # fmt: skip
            if rng.random() < 0.15:
                orders.refund_order(session, SYSTEM, order.id, RefundCreate(all=True))
            elif moment < NOW:
                kept.append((member.id, store.id, channel, moment, paid))

    service.refresh(session, NOW)

    found = profiles(session)
    since = NOW - timedelta(days=365)
    mine: dict[int, list[tuple[int, int, str, datetime, int]]] = defaultdict(list)
    for row in kept:
        mine[row[0]].append(row)
    for member in buyers:
        rows = mine[member.id]
        p = found[member.id]
        assert p.orders_lifetime == len(rows)
        assert p.monetary_lifetime == sum(r[4] for r in rows)
        assert p.orders_window == sum(1 for r in rows if r[3] >= since)
        assert p.monetary_window == sum(r[4] for r in rows if r[3] >= since)
        assert p.purchase_days == len({r[3].astimezone(SH).date() for r in rows})
        if not rows:
            assert p.preferred_weekday is None
            assert p.preferred_stores == []
            continue
        assert p.first_purchase_at == min(r[3] for r in rows)
        assert p.last_purchase_at == max(r[3] for r in rows)

        def top(key: int, rows: list[tuple[int, int, str, datetime, int]] = rows) -> list[object]:
            spend: dict[object, int] = defaultdict(int)
            for r in rows:
                spend[r[key]] += r[4]
            return sorted(spend, key=lambda k: (-spend[k], k))[:3]

        def most(values: list[int]) -> int:
            counts = Counter(values)
            return min(counts, key=lambda v: (-counts[v], v))

        assert p.preferred_stores == top(1)
        assert p.preferred_channels == top(2)
        assert p.preferred_weekday == most([r[3].astimezone(SH).weekday() for r in rows])
        assert p.preferred_hour == most([r[3].astimezone(SH).hour for r in rows])


def test_refresh_the_same_whatever_the_buckets_read(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads the orders and lines in buckets of members (array_agg per bucket):
    one member per bucket gives the same profiles as one bucket for all."""
    from patron.profiles import columnar

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the columnar refresh is PostgreSQL's")
    stores_ = [make_store(session, f"B{i}") for i in range(2)]
    for n in range(6):
        member = make_member(session)
        for day in range(1, 2 + n % 3):
            make_order(session, stores_[(n + day) % 2], member, occurred_at=at(f"02-{day:02d}"))

    def snapshot() -> list[tuple[object, ...]]:
        service.refresh(session, NOW)
        rows = profiles(session).values()
        return sorted(
            (
                p.member_id, p.first_purchase_at, p.orders_lifetime, p.monetary_lifetime,
                p.purchase_days, p.preferred_stores, p.preferred_channels,
                p.preferred_categories, p.preferred_weekday, p.preferred_hour,
                p.similar_categories, p.rfm_class, p.lifecycle,
            )
            for p in rows
        )  # fmt: skip

    together = snapshot()
    monkeypatch.setattr(columnar, "BUCKET", 1)
    assert snapshot() == together


def test_columnar_days_by_the_zone_rules_match_the_fixed_offset(session: Session) -> None:
    """A zone with daylight saving has its orders' wall-clock times from the server; for
    Asia/Shanghai (one offset) both ways give the same days and hours."""
    from dataclasses import replace

    from patron.profiles import columnar
    from patron.profiles import facts as sql

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the columnar refresh is PostgreSQL's")
    store = make_store(session)
    member = make_member(session)
    for moment in ("2026-02-01T23:30:00+08:00", "2026-02-01T00:30:00+08:00", at("02-03", 7)):
        make_order(session, store, member, occurred_at=moment)
    local = sql.local_for(session, NOW)
    assert local.fixed
    fixed = columnar.read_orders(session, local, NOW, 365)
    ruled = columnar.read_orders(session, replace(local, fixed=False), NOW, 365)
    for name in ("first_day", "last_day", "purchase_days", "weekday", "hour", "first_day_value"):
        assert getattr(fixed, name).tolist() == getattr(ruled, name).tolist(), name
    assert fixed.purchase_days.tolist() == [2]
    assert fixed.hour.tolist() == [0]  # 00:30, 07:00, 23:30: one each, the lowest


def test_refresh_without_any_order(session: Session) -> None:
    member = make_member(session)
    report = service.refresh(session, NOW)
    found = profiles(session)[member.id]
    assert (report.buyers, found.lifecycle, found.preferred_stores) == (0, "prospect", [])
