"""The daily facts equal the orders and ledgers they are built from, after a refresh."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron import domains
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.members import merge as member_merge
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.reports import facts, jobs
from patron.reports.models import FactsWatermark, MemberDay, MemberDayFacts, SalesDayFacts
from patron.schedule import registry
from tests.factories import make_member, make_order, make_store

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SH = ZoneInfo("Asia/Shanghai")


def _sales(session: Session) -> dict[tuple[date, int, str], tuple[int, ...]]:
    rows = session.execute(
        select(
            SalesDayFacts.day,
            SalesDayFacts.store_id,
            SalesDayFacts.channel,
            SalesDayFacts.orders,
            SalesDayFacts.sales,
            SalesDayFacts.refunded,
            SalesDayFacts.member_orders,
            SalesDayFacts.member_sales,
            SalesDayFacts.member_refunded,
        )
    )
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}


def test_orders_and_refunds_land_on_their_business_days(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    with clock.frozen(datetime(2026, 1, 5, 3, tzinfo=UTC)):
        # 23:30 in Shanghai on 4 January is 15:30 UTC: the business day is the 4th.
        make_order(session, store, occurred_at="2026-01-04T23:30:00+08:00")
        order = make_order(session, store, member, occurred_at="2026-01-05T10:00:00+08:00")
    with clock.frozen(datetime(2026, 1, 7, 3, tzinfo=UTC)):
        orders.refund_order(session, SYSTEM, order.id, RefundCreate(all=True))
    with clock.frozen(NOW):
        facts.refresh(session)
    assert _sales(session) == {
        (date(2026, 1, 4), store.id, "pos"): (1, 12000, 0, 0, 0, 0),
        (date(2026, 1, 5), store.id, "pos"): (1, 12000, 0, 1, 12000, 0),
        (date(2026, 1, 7), store.id, "pos"): (0, 0, 12000, 0, 0, 12000),
    }
    # Fully refunded: the member's order no longer counts.
    assert session.scalars(select(MemberDayFacts)).all() == []


def test_a_refresh_recomputes_only_what_changed_and_agrees_with_a_rebuild(
    session: Session,
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    with clock.frozen(datetime(2026, 1, 5, 3, tzinfo=UTC)):
        make_order(session, store, member, occurred_at="2026-01-05T10:00:00+08:00")
    with clock.frozen(NOW):
        facts.refresh(session)
        make_order(session, store, member, occurred_at="2026-01-05T11:00:00+08:00")
        facts.refresh(session)
        refreshed = _sales(session)
        facts.rebuild(session)
    assert refreshed == _sales(session)
    assert refreshed[(date(2026, 1, 5), store.id, "pos")] == (2, 24000, 0, 2, 24000, 0)
    (day,) = session.scalars(select(MemberDayFacts)).all()
    assert (day.member_id, day.orders, day.net_sales) == (member.id, 2, 24000)


def _members(session: Session) -> dict[tuple[date, int], tuple[int, int]]:
    rows = session.scalars(select(MemberDayFacts).execution_options(populate_existing=True))
    return {(r.day, r.member_id): (r.orders, r.net_sales) for r in rows}


def test_a_merge_moves_the_merged_members_daily_facts_to_the_survivor(session: Session) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    with clock.frozen(NOW):
        make_order(session, store, source, occurred_at="2026-01-05T10:00:00+08:00")
        make_order(session, store, target, occurred_at="2026-01-05T11:00:00+08:00")
        make_order(session, store, source, occurred_at="2026-01-06T10:00:00+08:00")
        facts.refresh(session)
        assert _members(session) == {
            (date(2026, 1, 5), source.id): (1, 12000),
            (date(2026, 1, 5), target.id): (1, 12000),
            (date(2026, 1, 6), source.id): (1, 12000),
        }
        member_merge.merge_members(session, SYSTEM, source.id, target.id)
        merged = _members(session)
        assert merged == {
            (date(2026, 1, 5), target.id): (2, 24000),
            (date(2026, 1, 6), target.id): (1, 12000),
        }
        assert _member_days(session) == {
            (date(2026, 1, 5), target.id): (None, date(2026, 1, 6)),
            (date(2026, 1, 6), target.id): (date(2026, 1, 5), None),
        }
        facts.rebuild(session)
    assert _members(session) == merged


def _member_days(session: Session) -> dict[tuple[date, int], tuple[date | None, date | None]]:
    rows = session.scalars(select(MemberDay).execution_options(populate_existing=True))
    return {(r.day, r.member_id): (r.previous_day, r.next_day) for r in rows}


def test_a_late_commit_below_the_watermark_is_read_within_the_margin(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that took its order's id before a refresh read past it, and committed
    after: the refresh re-reads MARGIN ids below the watermark; beyond that, the nightly
    recompute of the last week finds it."""
    store = make_store(session)
    monkeypatch.setattr(facts, "MARGIN", 5)
    with clock.frozen(NOW):
        facts.refresh(session)
        late = make_order(session, store, occurred_at="2026-02-27T10:00:00+08:00")
        _read_up_to(session, late.id + 4)
        facts.refresh(session)
    assert _sales(session)[(date(2026, 2, 27), store.id, "pos")][:2] == (1, 12000)
    with clock.frozen(NOW):
        later = make_order(session, store, occurred_at="2026-02-27T11:00:00+08:00")
        _read_up_to(session, later.id + 5)
        facts.refresh(session)
        assert _sales(session)[(date(2026, 2, 27), store.id, "pos")][:2] == (1, 12000)
        assert jobs.recompute_week(session, NOW) == "7 days of facts recomputed"
    assert _sales(session)[(date(2026, 2, 27), store.id, "pos")][:2] == (2, 24000)


def _read_up_to(session: Session, order_id: int) -> None:
    """As if a refresh had read the orders up to `order_id` already."""
    session.execute(
        update(FactsWatermark).where(FactsWatermark.source == "orders").values(last_id=order_id)
    )


def test_orders_imported_into_old_days_are_counted_by_the_next_run(session: Session) -> None:
    """History loaded in bulk takes new ids: the 5-minute job finds its days, however old."""
    store = make_store(session)
    with clock.frozen(NOW):
        assert jobs.refresh(session, NOW) == "1 days of facts recomputed"
        make_order(session, store, occurred_at="2024-06-01T10:00:00+08:00")
        assert jobs.refresh(session, NOW) == "2 days of facts recomputed"
    assert _sales(session)[(date(2024, 6, 1), store.id, "pos")][:2] == (1, 12000)


def test_the_jobs_run_every_five_minutes_and_nightly() -> None:
    domains.load()
    every, nightly = registry.JOBS["reports.facts"], registry.JOBS["reports.facts_week"]
    at = [datetime(2026, 3, 1, 9, m, tzinfo=SH) for m in range(60)]
    assert [t.minute for t in at if every.cadence.due(t)] == list(range(0, 60, 5))
    assert [
        h for h in range(24) if nightly.cadence.due(datetime(2026, 3, 1, h, 30, tzinfo=SH))
    ] == [4]
