"""The members' spend sums (`orders.spend`) answer what grouping the orders answers: after any
sequence of orders (old, late and future-dated), refunds in part and in full, merges, imports and
folds, on both databases, for `spent` and `orders` over all time and over the year."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron import domains
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.members import merge
from patron.members.models import Member
from patron.orders import behaviour, importer, spend
from patron.orders.models import MemberSpend, MemberSpendChange, Order, OrderStatus
from patron.orders.schemas import RefundCreate
from patron.orders.service import lines_of, refund_order
from patron.schedule import registry
from patron.stores.models import Store
from tests.factories import make_member, make_order, make_store
from tests.uploads import batches

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
MEASURES = ("spent", "orders")


def expected(session: Session, measure: str, window: behaviour.Window) -> dict[int, int]:
    """The measure read from the orders one by one, in Python."""
    found: dict[int, int] = {}
    for order in session.scalars(select(Order).where(Order.member_id.is_not(None))):
        assert order.member_id is not None
        if order.occurred_at >= window.until or (
            window.since is not None and order.occurred_at < window.since
        ):
            continue
        if measure == "spent":
            value = order.total - order.refunded_amount
        else:
            value = 0 if order.status == OrderStatus.refunded else 1
        found[order.member_id] = found.get(order.member_id, 0) + value
    return {member_id: value for member_id, value in found.items() if value}


def summed(session: Session, measure: spend.Measure, window: behaviour.Window) -> dict[int, int]:
    query = spend.rows(session, measure, window.until, window.since)
    assert query is not None
    rows = query.subquery()
    return _nonzero(session.execute(select(rows.c.member_id, rows.c.value)))


def _nonzero(rows: Any) -> dict[int, int]:
    return {member_id: int(value) for member_id, value in rows if value}


def _agree(session: Session, now: datetime) -> None:
    for measure in MEASURES:
        for since in (None, now - YEAR):
            window = behaviour.Window(until=now, since=since)
            assert summed(session, measure, window) == expected(session, measure, window), (
                measure,
                since,
            )


@dataclass
class Chain:
    store: Store
    members: list[Member]
    orders: list[int] = field(default_factory=list)
    now: datetime = START


def _chain(session: Session) -> Chain:
    with clock.frozen(START - timedelta(days=800)):
        store = make_store(session)
        members = [make_member(session, store) for _ in range(4)]
    return Chain(store, members)


def _order(session: Session, chain: Chain, member: int, minutes_back: int, price: int) -> None:
    occurred = chain.now - timedelta(minutes=minutes_back)
    items = [
        {
            "sku": "A1",
            "name": "奶粉",
            "category_code": "MILK",
            "quantity": 2,
            "unit_price": price,
            "discount": 0,
            "paid": 2 * price,
        }
    ]
    with clock.frozen(chain.now):
        order = make_order(
            session,
            chain.store,
            chain.members[member],
            occurred_at=occurred.isoformat(),
            items=items,
            payments=[{"method": "wechat_pay", "amount": 2 * price}],
        )
    chain.orders.append(order.id)


def _refund(session: Session, chain: Chain, which: int, whole: bool) -> None:
    if not chain.orders:
        return
    order_id = chain.orders[which % len(chain.orders)]
    line = lines_of(session, order_id)[0]
    if line.refunded_quantity == line.quantity:
        return
    body: dict[str, Any] = (
        {"all": True} if whole else {"items": [{"line_id": line.id, "quantity": 1}]}
    )
    with clock.frozen(chain.now):
        refund_order(session, SYSTEM, order_id, RefundCreate.model_validate(body))


def _merge(session: Session, chain: Chain, source: int, target: int) -> None:
    first, second = chain.members[source], chain.members[target]
    if first.id == second.id or "merged" in (first.status, second.status):
        return
    with clock.frozen(chain.now):
        merge.merge_members(session, SYSTEM, first.id, second.id)
    session.refresh(first)


MINUTES_BACK = st.one_of(
    st.integers(-4, 60 * 48),  # today's orders, and some stamped a few minutes ahead
    st.integers(0, 60 * 24 * 800),  # any time in two years: late imports into the year and before
    st.sampled_from([60 * 24 * 365 - 1, 60 * 24 * 365, 60 * 24 * 365 + 1]),  # the year's edge
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.integers(0, 3), MINUTES_BACK, st.integers(1, 5000)),
        st.tuples(st.just("refund"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("merge"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("fold")),
        st.tuples(st.just("wait"), st.integers(1, 24 * 400)),
        st.tuples(st.just("check")),
    ),
    max_size=25,
)


@given(STEPS)
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_sums_answer_what_grouping_the_orders_answers(
    session: Session, steps: list[tuple[Any, ...]]
) -> None:
    example = session.begin_nested()
    try:
        chain = _chain(session)
        spend.fold(session, chain.now)
        for step in steps:
            kind = step[0]
            if kind == "order" and chain.members[step[1]].status != "merged":
                _order(session, chain, step[1], step[2], step[3])
            elif kind == "refund":
                _refund(session, chain, step[1], step[2])
            elif kind == "merge":
                _merge(session, chain, step[1], step[2])
            elif kind == "fold":
                spend.fold(session, chain.now)
            elif kind == "wait":
                chain.now += timedelta(hours=step[1])
            elif kind == "check":
                _agree(session, chain.now)
        _agree(session, chain.now)
        spend.fold(session, chain.now)
        assert session.scalar(select(func.count()).select_from(MemberSpendChange)) == 0
        _agree(session, chain.now)
    finally:
        example.rollback()


def test_the_first_fold_builds_the_sums_and_later_folds_only_add(session: Session) -> None:
    chain = _chain(session)
    _order(session, chain, 0, 60 * 24 * 400, 1000)  # before the year
    _order(session, chain, 0, 60 * 24 * 360, 2000)
    assert spend.rows(session, "spent", chain.now, chain.now - YEAR) is None  # not built yet
    built = spend.fold(session, chain.now)
    assert (built.built, built.until) == (True, chain.now)
    sums = session.get(MemberSpend, chain.members[0].id)
    assert sums is not None
    assert (sums.spent, sums.orders, sums.year_spent, sums.year_orders) == (6000, 2, 4000, 1)
    assert session.scalar(select(func.count()).select_from(MemberSpendChange)) == 0

    _order(session, chain, 1, 60, 500)
    assert session.scalar(select(func.count()).select_from(MemberSpendChange)) == 1
    chain.now += timedelta(days=11)  # the order of 360 days back leaves the year
    folded = spend.fold(session, chain.now)
    assert (folded.built, folded.until, folded.members) == (False, chain.now, 2)
    session.expire_all()
    sums = session.get(MemberSpend, chain.members[0].id)
    assert sums is not None
    assert (sums.spent, sums.orders, sums.year_spent, sums.year_orders) == (6000, 2, 0, 0)
    _agree(session, chain.now)


def test_a_count_before_the_year_of_the_sums_groups_the_orders(session: Session) -> None:
    chain = _chain(session)
    _order(session, chain, 0, 60 * 24, 1000)
    spend.fold(session, chain.now)
    earlier = chain.now - timedelta(hours=1)
    assert spend.rows(session, "spent", earlier, earlier - YEAR) is None
    assert spend.rows(session, "spent", chain.now, chain.now - timedelta(days=90)) is None
    assert spend.rows(session, "spent", earlier, None) is not None  # all time needs no year
    _agree(session, chain.now)


def test_imported_orders_reach_the_sums(session: Session, sessions: Any) -> None:
    chain = _chain(session)
    make_member(session, chain.store, mobile="13800000077")
    spend.fold(session, chain.now)
    local = [
        (chain.now - timedelta(days=30)).astimezone(clock.business_tz()),
        (chain.now - timedelta(days=500)).astimezone(clock.business_tz()),
    ]
    text = "门店编码,订单号,下单时间,会员手机号,商品编码,商品名称,品类编码,数量,单价,优惠,实付,支付方式\n"
    for n, (when, paid) in enumerate(zip(local, ("120.00", "70.00"), strict=True)):
        text += (
            f"{chain.store.code},IMP-{n},{when:%Y-%m-%d %H:%M:%S},13800000077,"
            f"A1,奶粉,MILK,1,{paid},0,{paid},微信\n"
        )
    rows = importer.read_rows(text.encode(), "orders.csv")
    with clock.frozen(chain.now):
        report = importer.import_orders(batches(sessions, 1000), SYSTEM, rows, dry_run=False)
    assert (report.created, report.errors) == (2, []), report
    member_id = session.scalar(select(Order.member_id).where(Order.external_id == "IMP-0"))
    assert member_id is not None
    year = behaviour.Window(chain.now, chain.now - YEAR)
    assert summed(session, "spent", year) == {member_id: 12000}
    assert summed(session, "spent", behaviour.Window(chain.now)) == {member_id: 19000}
    _agree(session, chain.now)


@pytest.mark.parametrize("measure", MEASURES)
def test_a_merge_moves_the_sums_to_the_member_kept(session: Session, measure: str) -> None:
    chain = _chain(session)
    _order(session, chain, 0, 60 * 48, 1000)
    _order(session, chain, 1, 60 * 24, 3000)
    spend.fold(session, chain.now)
    _merge(session, chain, 0, 1)
    year = behaviour.Window(chain.now, chain.now - YEAR)
    expected = {chain.members[1].id: 8000 if measure == "spent" else 2}
    assert summed(session, measure, year) == expected  # type: ignore[arg-type]
    spend.fold(session, chain.now)
    assert summed(session, measure, year) == expected  # type: ignore[arg-type]


def test_the_fold_is_a_job_every_five_minutes(session: Session) -> None:
    domains.load()
    job = registry.JOBS["orders.spend"]
    due = [m for m in range(60) if job.cadence.due(datetime(2026, 3, 1, 9, m, tzinfo=UTC))]
    assert due == [*range(0, 60, 5)]
    chain = _chain(session)
    _order(session, chain, 0, 60, 1500)
    assert job.run(session, chain.now) == (
        f"spend sums built for 1 members, year until {chain.now.isoformat()}"
    )
    later = chain.now + timedelta(minutes=5)
    assert job.run(session, later) == (
        f"spend sums folded for 0 members, year until {later.isoformat()}"
    )
