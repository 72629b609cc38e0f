from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import PatronError
from patron.core.settings import get_settings
from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member
from patron.stored_value import adjustments, ledger, packages, recharges, reports
from patron.stored_value.errors import (
    BalanceCapExceeded,
    CoolingOffOver,
    InsufficientBalance,
    NothingToRefund,
    PackageLimitReached,
    RealNameRequired,
    RechargeUsed,
)
from patron.stored_value.models import Recharge, StoredValueAccount, StoredValueEntry
from patron.stores.models import Store
from tests.factories import make_member, make_order, make_store

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
CASH = recharges.Payment("cash", "")


def load(
    session: Session, member: Member, store: Store | None, principal: int, bonus: int = 0
) -> Recharge:
    package = None
    if bonus:
        package = packages.save_package(
            session, SYSTEM, {"name": f"充{principal}送{bonus}", "pay": principal, "bonus": bonus}
        )
    return recharges.recharge(
        session,
        SYSTEM,
        member.id,
        store.id if store else None,
        CASH,
        amount=None if package else principal,
        package_id=package.id if package else None,
    )


def balances(session: Session, member_id: int) -> tuple[int, int]:
    account = session.get(StoredValueAccount, member_id, populate_existing=True)
    return (account.principal, account.bonus) if account else (0, 0)


def entry_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(StoredValueEntry)) or 0)


@pytest.mark.parametrize(
    ("amount", "principal", "bonus", "first", "expected"),
    [
        (10000, 10000, 1000, False, (9091, 909)),  # floor(10000 × 1000 / 11000) = 909 bonus
        (1, 1, 1, False, (1, 0)),  # the bonus part rounds down: principal takes the fen
        (2, 1, 1, False, (1, 1)),
        (500, 0, 500, False, (0, 500)),
        (700, 500, 500, True, (500, 200)),
        (300, 500, 500, True, (300, 0)),
    ],
)
def test_a_spend_splits_principal_and_bonus(
    amount: int, principal: int, bonus: int, first: bool, expected: tuple[int, int]
) -> None:
    assert ledger.split(amount, principal, bonus, principal_first=first) == expected


def test_a_package_loads_principal_and_bonus_and_a_spend_takes_both(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 50000, 5000)
    assert balances(session, member.id) == (50000, 5000)
    order = make_order(session, store, member)
    entry = ledger.spend(session, member.id, 11000, store.id, order.id)
    assert (entry.principal, entry.bonus) == (-10000, -1000)
    assert balances(session, member.id) == (40000, 4000)
    assert ledger.verify(session) == []


def test_partial_reversals_put_back_exactly_what_the_order_took(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 10000, 1000)
    order = make_order(session, store, member)
    ledger.spend(session, member.id, 10000, store.id, order.id)  # 9091 + 909
    first = ledger.reverse_spend(session, order.id, 3333, store.id)
    assert first is not None
    assert (first.principal, first.bonus) == (3031, 302)  # floor(3333 × 909 / 10000) = 302
    rest = ledger.reverse_spend(session, order.id, None, store.id)
    assert rest is not None
    assert (rest.principal, rest.bonus) == (6060, 607)
    assert ledger.reverse_spend(session, order.id, 1, store.id) is None
    assert balances(session, member.id) == (10000, 1000)


def test_a_spend_over_the_balance_writes_nothing(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 1000)
    before = entry_count(session)
    with pytest.raises(InsufficientBalance):
        ledger.spend(session, member.id, 1001, store.id, None)
    assert entry_count(session) == before
    assert balances(session, member.id) == (1000, 0)


def test_the_cap_and_the_real_name_threshold_refuse_without_writing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 450000)
    before = entry_count(session)
    with pytest.raises(BalanceCapExceeded):
        load(session, member, store, 50001)
    lifted = get_settings().model_copy(update={"stored_value_cap": 5_000_000})
    monkeypatch.setattr(recharges, "get_settings", lambda: lifted)
    with pytest.raises(RealNameRequired):
        load(session, member, store, 1_000_000)
    assert entry_count(session) == before
    big = recharges.recharge(
        session,
        SYSTEM,
        member.id,
        store.id,
        CASH,
        amount=1_000_000,
        real_name=recharges.RealName("张伟", "110101199003074514"),
    )
    stored = session.scalar(select(Recharge.real_name).where(Recharge.id == big.id))
    assert stored == "张伟"
    raw = session.connection().exec_driver_sql(
        f"SELECT id_number FROM stored_value_recharges WHERE id = {big.id}"
    )
    assert "110101199003074514" not in str(raw.scalar())


def test_a_package_is_bought_no_more_often_than_its_limit(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    package = packages.save_package(
        session, SYSTEM, {"name": "新客", "pay": 10000, "bonus": 2000, "per_member_limit": 1}
    )

    def buy() -> Recharge:
        return recharges.recharge(session, SYSTEM, member.id, store.id, CASH, package_id=package.id)

    first = buy()
    with pytest.raises(PackageLimitReached):
        buy()
    recharges.refund_recharge(session, SYSTEM, first.id)  # a refunded one does not count
    buy()


def test_cooling_off_refunds_an_untouched_recharge_with_its_bonus(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    with clock.frozen(T0):
        kept = load(session, member, store, 20000, 2000)
        late = load(session, member, store, 1000)
    with clock.frozen(T0 + timedelta(days=6)):
        recharges.refund_recharge(session, SYSTEM, kept.id)
    assert balances(session, member.id) == (1000, 0)
    with clock.frozen(T0 + timedelta(days=7)), pytest.raises(CoolingOffOver):
        recharges.refund_recharge(session, SYSTEM, late.id)
    assert ledger.verify(session) == []


def test_a_recharge_drawn_on_is_not_refunded(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    with clock.frozen(T0):
        used = load(session, member, store, 20000, 2000)
    with clock.frozen(T0 + timedelta(hours=1)):
        ledger.spend(session, member.id, 1, store.id, None)
    before = entry_count(session)
    with clock.frozen(T0 + timedelta(days=1)), pytest.raises(RechargeUsed):
        recharges.refund_recharge(session, SYSTEM, used.id)
    assert entry_count(session) == before


def test_an_account_refund_pays_out_principal_and_the_bonus_lapses(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 50000, 5000)
    entry = recharges.refund_account(session, SYSTEM, member.id, store.id, "closing")
    assert (entry.principal, entry.bonus) == (-50000, -5000)
    assert balances(session, member.id) == (0, 0)
    with pytest.raises(NothingToRefund):
        recharges.refund_account(session, SYSTEM, member.id, store.id, "again")


def test_merge_moves_the_balance_and_a_reversal_follows_the_survivor(session: Session) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    load(session, source, store, 30000, 3000)
    load(session, target, store, 1000)
    order = make_order(session, store, source)
    ledger.spend(session, source.id, 3300, store.id, order.id)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    assert balances(session, source.id) == (0, 0)
    assert balances(session, target.id) == (28000, 2700)
    ledger.reverse_spend(session, order.id, None, store.id)
    assert balances(session, target.id) == (31000, 3000)
    assert ledger.verify(session) == []


def test_erasure_keeps_the_ledger_and_drops_real_names(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    record = recharges.recharge(
        session,
        SYSTEM,
        member.id,
        store.id,
        CASH,
        amount=1000,
        real_name=recharges.RealName("张伟", "110101199003074514"),
    )
    privacy.erase_member(session, SYSTEM, member.id, "asked")
    session.refresh(record)
    assert record.real_name is None
    assert record.id_number is None
    assert balances(session, member.id) == (1000, 0)
    assert ledger.verify(session) == []


def test_verify_reports_an_account_off_its_ledger(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 1000)
    account = session.get(StoredValueAccount, member.id)
    assert account is not None
    account.bonus += 1
    session.flush()
    assert [(m.member_id, m.cached, m.ledger) for m in ledger.verify(session)] == [
        (member.id, (1000, 1), (1000, 0))
    ]


steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["recharge", "spend", "reverse", "cooling_off", "refund", "adjust", "merge"]
        ),
        st.integers(0, 2),
        st.integers(1, 60000),
        st.integers(0, 20000),
    ),
    min_size=8,
    max_size=30,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, principal_first=st.booleans())
def test_nothing_is_minted_or_lost(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    script: list[tuple[str, int, int, int]],
    principal_first: bool,
) -> None:
    """After every step: principal and bonus never negative, every account equal to its
    ledger, the total held changed by exactly what came in or went out, an order's reversals
    never put back more principal or bonus than it took, the settlement over all time equal to
    the ledger's principal by kind, and the liability equal to the accounts' sums."""
    chosen = get_settings().model_copy(update={"stored_value_principal_first": principal_first})
    monkeypatch.setattr(ledger, "get_settings", lambda: chosen)
    session.expunge_all()  # rows of the last example, rolled back, may linger in the session
    with session.begin_nested() as savepoint:
        store = make_store(session)
        places = [store, make_store(session, type="franchise"), None]  # None: HQ, online
        ids = [make_member(session, store).id for _ in range(3)]
        orders: list[int] = []
        loaded: list[int] = []
        now = T0
        with clock.frozen(now):  # money to spend, move and refund from the first step
            for who, place in enumerate(places):
                _step(session, place, "recharge", ids, who, 30000, 3000, orders, loaded)
        for kind, who, amount, extra in script:
            now += timedelta(hours=13)
            before = _all(session)
            moved = None
            with clock.frozen(now), session.begin_nested() as step:
                try:
                    place = places[(amount + extra) % 3]
                    moved = _step(session, place, kind, ids, who, amount, extra, orders, loaded)
                except PatronError:
                    step.rollback()
            after = _all(session)
            if moved is None:  # refused: nothing changed
                assert after == before
                continue
            assert _total(after) - _total(before) == moved
            assert all(p >= 0 and b >= 0 for _, p, b in after)
            assert ledger.verify(session) == []
            for order_id in orders:
                left = ledger.order_take(session, order_id)
                assert left.principal >= 0
                assert left.bonus >= 0
            _reconciles(session, after)
        savepoint.rollback()


def _reconciles(session: Session, accounts: list[tuple[int, int, int]]) -> None:
    """The settlement of all time is the ledger's principal by kind; the liability's rows add
    up to its totals, which are the accounts' sums."""
    by_kind = dict(
        session.execute(
            select(StoredValueEntry.kind, func.sum(StoredValueEntry.principal)).group_by(
                StoredValueEntry.kind
            )
        ).all()
    )
    settled = reports.settlement(session, SYSTEM, reports.Period(T0.date(), date(2027, 1, 1)))
    totals = settled.totals
    assert totals.recharged == by_kind.get("recharge", 0)
    assert totals.refunded == -by_kind.get("refund", 0)
    assert totals.spent == -by_kind.get("spend", 0) - by_kind.get("spend_reversal", 0)
    assert totals.adjusted == by_kind.get("adjust", 0)
    assert sum((r.figures for r in settled.rows), reports.Figures()) == totals
    merged = by_kind.get("merge_in", 0) + by_kind.get("merge_out", 0)
    assert merged == 0
    assert totals.net == sum(p for _, p, _ in accounts)  # merges add nothing
    owed = reports.liability(session, SYSTEM)
    held = reports.Holding(sum(p for _, p, _ in accounts), sum(b for _, _, b in accounts))
    assert owed.totals == held
    assert sum((r.holding for r in owed.rows), owed.unattributed) == held
    standing = {
        store_id: (int(p), int(b))
        for store_id, p, b in session.execute(
            select(Recharge.store_id, func.sum(Recharge.principal), func.sum(Recharge.bonus))
            .where(Recharge.status == "completed")
            .group_by(Recharge.store_id)
        )
    }
    for row in owed.rows:  # a store holds no more than its standing recharges loaded
        assert 0 <= row.holding.principal <= standing[row.store_id][0]
        assert 0 <= row.holding.bonus <= standing[row.store_id][1]


def _step(
    session: Session,
    place: Store | None,
    kind: str,
    ids: list[int],
    who: int,
    amount: int,
    extra: int,
    orders: list[int],
    loaded: list[int],
) -> int:
    """Do one step at `place` (None: HQ); return the fen (principal + bonus) it brought in
    (negative: took out)."""
    member_id = member_merge.hold_survivor(session, ids[who])
    store_id = place.id if place else None
    if kind == "recharge":
        bonus = extra % 5000
        package_id = None
        if bonus:  # a package: pay `amount`, get `bonus` on top
            package = {"name": "p", "pay": amount, "bonus": bonus}
            package_id = packages.save_package(session, SYSTEM, package).id
        record = recharges.recharge(
            session,
            SYSTEM,
            member_id,
            store_id,
            CASH,
            amount=None if package_id else amount,
            package_id=package_id,
        )
        loaded.append(record.id)
        return amount + bonus
    if kind == "spend":
        member = session.get(Member, member_id)
        order = make_order(session, place or _any_store(session), member)
        ledger.spend(session, member_id, amount, store_id, order.id)
        orders.append(order.id)
        return -amount
    if kind == "reverse":
        if not orders:
            return 0
        entry = ledger.reverse_spend(session, orders[extra % len(orders)], amount, store_id)
        return 0 if entry is None else entry.principal + entry.bonus
    if kind == "cooling_off":
        if not loaded:
            return 0
        record = recharges.refund_recharge(session, SYSTEM, loaded[extra % len(loaded)])
        return -(record.principal + record.bonus)
    if kind == "refund":
        entry = recharges.refund_account(session, SYSTEM, member_id, store_id, "close")
        return entry.principal + entry.bonus
    if kind == "adjust":
        principal, bonus = amount % 20000 - 10000, extra % 2000 - 1000
        adjustments.adjust(session, SYSTEM, member_id, store_id, principal, bonus, "check")
        return principal + bonus
    other = member_merge.hold_survivor(session, ids[extra % 3])
    if other != member_id:
        member_merge.merge_members(session, SYSTEM, member_id, other)
    return 0


def _any_store(session: Session) -> Store:
    """An online order's row still names a store (the factories' orders need one)."""
    return session.scalars(select(Store).limit(1)).one()


def _all(session: Session) -> list[tuple[int, int, int]]:
    query = select(StoredValueAccount).execution_options(populate_existing=True)
    return sorted((a.member_id, a.principal, a.bonus) for a in session.scalars(query))


def _total(accounts: list[tuple[int, int, int]]) -> int:
    return sum(p + b for _, p, b in accounts)
