from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden, InvalidInput
from patron.core.events import Event
from patron.coupons.models import Coupon, IssueSource
from patron.members import merge as member_merge
from patron.members import registration
from patron.members.schemas import MemberUpdate
from patron.orders.events import CompletedLine, OrderCompleted
from patron.points.models import PointsEntry
from patron.tiers import growth, ladder, standing
from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged
from patron.tiers.models import GrowthEntry, GrowthKind, MemberTier, TierChange
from patron.tiers.program import Program
from tests.factories import make_coupon_template, make_member, make_store
from tests.tiers.helpers import cached, ledger_sum, make_ladder, order, refund, set_program

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
YUAN = 100


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(NOW)


@pytest.fixture
def changes() -> Any:
    seen: list[TierChanged] = []

    def listen(_session: Session, event: Event[TierChanged]) -> None:
        seen.append(event.payload)

    MEMBER_TIER_CHANGED.subscribers.register("test.listen")(listen)
    yield seen
    MEMBER_TIER_CHANGED.subscribers.unregister("test.listen")


def history(session: Session, member_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(TierChange.reason, TierChange.to_tier_id)
        .where(TierChange.member_id == member_id)
        .order_by(TierChange.id)
    )
    codes = {t.id: t.code for t in ladder.list_tiers(session)}
    return [(reason, codes[to]) for reason, to in rows]


# --- the ladder ------------------------------------------------------------------------------


def tier(code: str, rank: int, entry: int = 0, retention: int = 0, **more: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": code,
        "rank": rank,
        "entry_threshold": entry,
        "retention_threshold": retention,
        **more,
    }


@pytest.mark.parametrize(
    ("ladder_before", "wanted", "field", "reason"),
    [
        ([], tier("silver", 1, 1000), "rank", "base_tier_missing"),
        ([], tier("normal", 0, 10), "entry_threshold", "base_tier_entry"),
        ([tier("normal", 0)], tier("plain", 0), "rank", "tier_rank_taken"),
        ([tier("normal", 0)], tier("normal", 1, 100), "code", "tier_code_taken"),
        (
            [tier("normal", 0), tier("gold", 2, 5000)],
            tier("silver", 1, 5000),
            "entry_threshold",
            "thresholds_not_rising",
        ),
        (
            [tier("normal", 0), tier("gold", 2, 5000)],
            tier("diamond", 3, 4000),
            "entry_threshold",
            "thresholds_not_rising",
        ),
        (
            [tier("normal", 0)],
            tier("silver", 1, 1000, 1001),
            "retention_threshold",
            "retention_above_entry",
        ),
        (
            [tier("normal", 0)],
            tier(
                "silver", 1, 1000, upgrade_gift={"coupons": [{"template_id": 999999, "count": 1}]}
            ),
            "upgrade_gift.coupons.0.template_id",
            "unknown_template",
        ),
    ],
)
def test_the_ladder_refuses_what_breaks_its_rules(
    session: Session,
    ladder_before: list[dict[str, Any]],
    wanted: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    for values in ladder_before:
        ladder.save_tier(session, SYSTEM, values)
    with pytest.raises(InvalidInput) as refused:
        ladder.save_tier(session, SYSTEM, wanted)
    assert (
        refused.value.extra["errors"][0]["field"],
        refused.value.extra["errors"][0]["code"],
    ) == (field, reason)


def test_a_patch_may_not_move_the_base_tier_away_nor_break_the_order(session: Session) -> None:
    normal, silver, gold, _ = make_ladder(session)
    with pytest.raises(InvalidInput):
        ladder.save_tier(session, SYSTEM, {"rank": 5}, normal.id)
    with pytest.raises(InvalidInput):
        ladder.save_tier(session, SYSTEM, {"entry_threshold": 6000}, silver.id)
    ladder.save_tier(
        session, SYSTEM, {"entry_threshold": 4999, "retention_threshold": 4000}, gold.id
    )
    assert [r.entry_threshold for r in ladder.ladder(session)] == [0, 1000, 4999, 20000]


def test_only_marketing_and_admins_design_the_ladder(session: Session) -> None:
    cashier = Actor("staff", 1, "c", Role.cashier, None)
    with pytest.raises(Forbidden):
        ladder.save_tier(session, cashier, tier("normal", 0))


# --- growth on orders ------------------------------------------------------------------------


def test_with_no_ladder_orders_earn_no_growth(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 600_000, NOW)
    assert session.scalar(select(func.count()).select_from(GrowthEntry)) == 0
    assert session.get(MemberTier, member.id) is None
    assert standing.current_tier(session, member.id) is None


def completed(total: int, payments: dict[str, int], bonus: int = 0) -> OrderCompleted:
    line = CompletedLine(1, "SKU", None, None, 1, total)
    return OrderCompleted(1, 1, 1, "pos", NOW, total, payments, (line,), stored_value_bonus=bonus)


def test_points_coupons_and_stored_value_bonus_earn_no_growth() -> None:
    plain = completed(10_099, {"wechat_pay": 10_099})
    assert growth.order_growth(plain, 1, Program()) == 100
    mixed = completed(
        20_000, {"points": 3_000, "coupon": 2_000, "stored_value": 15_000}, bonus=5_000
    )
    assert growth.order_growth(mixed, 1, Program()) == 100  # ¥100 of principal
    assert growth.order_growth(mixed, 1, Program(growth_per_yuan=3)) == 300


def test_an_order_writes_its_growth_entry_and_the_cached_sum(session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    taken = order(session, store, member, 12_345, NOW - timedelta(days=1))
    entry = session.scalars(select(GrowthEntry).where(GrowthEntry.member_id == member.id)).one()
    assert (entry.kind, entry.growth, entry.order_id, entry.store_id) == (
        "order",
        123,
        taken.id,
        store.id,
    )
    assert entry.occurred_at == NOW - timedelta(days=1)
    row = cached(session, member.id)
    assert row is not None
    assert row.growth == 123


def test_refunds_take_growth_back_cumulatively(session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    taken = order(session, store, member, 3 * 3_333, NOW, quantity=3)  # G = 99
    refund(session, taken.id, 1)  # R/P = 1/3: 33
    assert ledger_sum(session, member.id) == 66
    refund(session, taken.id, 1)
    assert ledger_sum(session, member.id) == 33
    refund(session, taken.id, 1)  # the last refund takes back exactly what is left
    assert ledger_sum(session, member.id) == 0
    refunds = session.scalars(
        select(GrowthEntry).where(GrowthEntry.kind == GrowthKind.refund.value)
    ).all()
    assert [e.growth for e in refunds] == [-33, -33, -33]
    assert all(e.occurred_at == NOW and e.refund_id for e in refunds)
    row = cached(session, member.id)
    assert row is not None
    assert row.growth == 0


# --- upgrades --------------------------------------------------------------------------------


def test_an_order_upgrades_several_steps_at_once(session: Session, changes: Any) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 999 * YUAN, NOW)
    assert standing.current_tier(session, member.id).code == "normal"  # type: ignore[union-attr]
    order(session, store, member, 5_001 * YUAN, NOW)  # 6,000: past silver to gold
    found = standing.standings(session, [member.id])[member.id]
    assert found.tier.code == "gold"
    assert found.since == NOW
    assert found.review_at == datetime(2027, 3, 10, 10, 0, tzinfo=UTC)
    assert history(session, member.id) == [("upgrade", "gold")]
    assert [(c.from_code, c.to_code, c.to_rank, c.reason) for c in changes] == [
        ("normal", "gold", 2, "upgrade")
    ]
    change = session.scalars(select(TierChange)).one()
    assert change.qualifying_growth == 6_000


def test_monthly_evaluation_reviews_on_the_first_of_next_month(session: Session) -> None:
    make_ladder(session)
    set_program(session, evaluation="monthly")
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 1_000 * YUAN, NOW)
    found = standing.standings(session, [member.id])[member.id]
    # 1 April in Shanghai is 31 March 16:00 UTC
    assert found.review_at == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)


def test_a_refund_never_moves_the_tier_down(session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    taken = order(session, store, member, 6_000 * YUAN, NOW)
    refund(session, taken.id)
    assert ledger_sum(session, member.id) == 0
    assert standing.current_tier(session, member.id).code == "gold"  # type: ignore[union-attr]
    assert history(session, member.id) == [("upgrade", "gold")]


def test_upgrade_gifts_go_out_once_per_tier_reached(session: Session) -> None:
    tiers = make_ladder(session)
    template = make_coupon_template(session)
    for t in tiers[1:3]:
        gift = {"coupons": [{"template_id": template.id, "count": 1}], "points": 100 * t.rank}
        ladder.save_tier(session, SYSTEM, {"upgrade_gift": gift}, t.id)
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 6_000 * YUAN, NOW)  # silver's and gold's gifts
    coupons = session.scalars(select(Coupon).where(Coupon.member_id == member.id)).all()
    assert sorted(c.source_ref for c in coupons) == ["tier:gold", "tier:silver"]
    assert {c.source for c in coupons} == {IssueSource.tier_benefit.value}
    grants = session.scalars(
        select(PointsEntry.points).where(
            PointsEntry.member_id == member.id, PointsEntry.kind == "grant"
        )
    ).all()
    assert sorted(grants) == [100, 200]
    standing.set_tier(session, SYSTEM, member.id, "normal", "test")
    order(session, store, member, 1 * YUAN, NOW)  # back to gold: gifts given already
    assert standing.current_tier(session, member.id).code == "gold"  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(Coupon)) == 2


# --- windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "later", "qualifying"),
    [
        ("rolling_12m", timedelta(days=364), 1_500),
        ("rolling_12m", timedelta(days=366), 0),
        ("calendar_year", timedelta(days=20), 1_500),  # 30 March: same year
        ("calendar_year", timedelta(days=300), 0),  # January 2027
        ("lifetime", timedelta(days=3_000), 1_500),
    ],
)
def test_qualifying_growth_follows_the_metric_as_the_clock_moves(
    session: Session, metric: str, later: timedelta, qualifying: int
) -> None:
    make_ladder(session)
    set_program(session, metric=metric)
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 1_500 * YUAN, NOW)
    clock.set_now(NOW + later)
    now = clock.now()
    assert growth.qualifying_growth(session, member.id, metric, now) == qualifying
    many = dict(session.execute(growth.qualifying_growth_select(metric, now)).all())
    assert many.get(member.id, 0) == qualifying
    column = growth.qualifying_growth_of(MemberTier.member_id, metric, now)
    assert session.scalar(select(column).where(MemberTier.member_id == member.id)) == qualifying


def test_the_rolling_window_decides_an_upgrade(session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    order(session, store, member, 800 * YUAN, NOW)
    clock.set_now(NOW + timedelta(days=400))
    order(session, store, member, 800 * YUAN, clock.now())  # lifetime 1,600, window 800
    assert standing.current_tier(session, member.id).code == "normal"  # type: ignore[union-attr]
    order(session, store, member, 200 * YUAN, clock.now())
    assert standing.current_tier(session, member.id).code == "silver"  # type: ignore[union-attr]


# --- manual set, merge, actions --------------------------------------------------------------


def test_hq_sets_a_tier_by_hand_with_a_reason(session: Session, changes: Any) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    clock.set_now(NOW + timedelta(days=10))
    found = standing.set_tier(session, SYSTEM, member.id, "diamond", "VIP 客户")
    assert (found.tier.code, found.since) == ("diamond", clock.now())
    assert found.review_at == clock.now().replace(year=2027)
    change = session.scalars(select(TierChange)).one()
    assert (change.reason, change.note, change.operator) == ("manual", "VIP 客户", "system")
    assert changes[0].reason == "manual"
    with pytest.raises(InvalidInput) as refused:
        standing.set_tier(session, SYSTEM, member.id, "platinum", "x")
    assert refused.value.extra["errors"][0]["code"] == "unknown_tier"


def test_a_merge_moves_growth_and_raises_the_survivor_only(session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    order(session, store, source, 3_000 * YUAN, NOW - timedelta(days=30))
    order(session, store, target, 2_500 * YUAN, NOW)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    entries = session.scalars(select(GrowthEntry).order_by(GrowthEntry.id)).all()
    assert {e.member_id for e in entries} == {target.id}
    assert entries[0].occurred_at == NOW - timedelta(days=30)
    row = cached(session, target.id)
    assert row is not None
    assert row.growth == 5_500
    assert standing.current_tier(session, target.id).code == "gold"  # type: ignore[union-attr]
    assert history(session, target.id)[-1] == ("merge", "gold")


def test_a_merge_never_lowers_the_survivor(session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    standing.set_tier(session, SYSTEM, target.id, "diamond", "contract")
    order(session, store, source, 1_000 * YUAN, NOW)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    assert standing.current_tier(session, target.id).code == "diamond"  # type: ignore[union-attr]


def test_registration_and_a_completed_profile_earn_growth_once(session: Session) -> None:
    make_ladder(session)
    set_program(session, action_growth={"registration": 10, "profile_completed": 20})
    store = make_store(session)
    member = make_member(session, store)
    assert ledger_sum(session, member.id) == 10
    update = MemberUpdate.model_validate({"gender": "female", "birthday": "1990-05-12"})
    registration.update_member(session, SYSTEM, member.id, update)
    registration.update_member(session, SYSTEM, member.id, MemberUpdate(name="李娜"))
    actions = session.scalars(
        select(GrowthEntry.action).where(GrowthEntry.member_id == member.id)
    ).all()
    assert sorted(a or "" for a in actions) == ["profile_completed", "registration"]
    assert ledger_sum(session, member.id) == 30


def test_tiers_of_reads_many_members_and_a_live_paid_tier_counts(session: Session) -> None:
    tiers = make_ladder(session)
    store = make_store(session)
    members = [make_member(session, store) for _ in range(3)]
    order(session, store, members[0], 1_000 * YUAN, NOW)
    row = standing.lock(session, [members[1].id])[members[1].id]
    row.paid_tier_id, row.paid_until = tiers[2].id, NOW + timedelta(days=1)
    session.flush()
    found = standing.tiers_of(session, [m.id for m in members])
    assert [found[m.id].code for m in members] == ["silver", "gold", "normal"]
    assert standing.standings(session, [members[1].id])[members[1].id].paid
