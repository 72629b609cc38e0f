"""Demo tiers: a four-tier ladder 普通/银卡/金卡/钻石 whose thresholds give a pyramid over the demo
history (a quarter of the members silver or better on the last 12 months' spend, a few percent
gold, a few in a thousand diamond). The history earns growth by the tiers service's own rule
(`growth.order_growth`), written in batches as the points demo earns; then the clock walks the
two years a month at a time, upgrading every member whose qualifying growth reached a higher
tier then, so each tier has its own `since` and review date, and members who were upgraded in
the first year and bought less since are downgraded at their reviews."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from patron.core import clock, statements
from patron.core.actor import SYSTEM
from patron.core.pagination import MAX_LIMIT
from patron.coupons import templates
from patron.coupons.models import CouponType, TemplateStatus
from patron.members.models import Member
from patron.orders import service as orders
from patron.tiers import growth, ladder, paid, program, reports, review, standing
from patron.tiers.ladder import Rung
from patron.tiers.models import ChangeReason, GrowthEntry, GrowthKind, MemberTier, TierChange

BATCH = 5000
DEMO_MONTHS = 24
# code, name, English name, entry, retention, discount %, points factor (hundredths)
LADDER = (
    ("normal", "普通", "Basic", 0, 0, 0, 100),
    ("silver", "银卡", "Silver", 2000, 1500, 2, 120),
    ("gold", "金卡", "Gold", 5000, 4000, 5, 150),
    ("diamond", "钻石", "Diamond", 10000, 8000, 10, 200),
)
ACTION_GROWTH = {"registration": 10, "profile_completed": 20, "check_in": 1}
# 付费会员: a quarterly plan granting 金卡 and, when the demo's coupons have a shipping template
# (线上运费券), one of it a month; bought by one member in PAID_EVERY PAID_FROM months back,
# renewed by half of them PAID_RENEW months back.
PAID_PLAN = {"name": "PLUS会员季卡", "name_en": "PLUS quarterly", "term": "quarter", "price": 5900}
PAID_EVERY, PAID_FROM, PAID_RENEW = 150, 4, 2


@dataclass(frozen=True)
class TierReport:
    growth: int
    upgrades: int
    downgrades: int
    members: dict[str, int]

    def __str__(self) -> str:
        pyramid = ", ".join(f"{name} {count:,}" for name, count in self.members.items())
        return (
            f"{self.growth:,} growth, {self.upgrades:,} upgrades, "
            f"{self.downgrades:,} downgrades; members now {pyramid}"
        )


def load(session: Session) -> TierReport:
    settings = asdict(program.Program()) | {"action_growth": ACTION_GROWTH}
    program.save_program(session, SYSTEM, settings)
    for rank, (code, name, name_en, entry, retention, discount, factor) in enumerate(LADDER):
        values: dict[str, Any] = {
            "code": code,
            "name": name,
            "name_en": name_en,
            "rank": rank,
            "entry_threshold": entry,
            "retention_threshold": retention,
            "discount_percent": discount,
            "points_factor": factor,
        }
        ladder.save_tier(session, SYSTEM, values)
    earned = _grow(session)
    _climb(session)
    today = clock.today()
    per_tier = reports.members_per_tier(reports.distribution(session, SYSTEM, today, today))
    counts = {rung.name: per_tier.get(rung.code, 0) for rung in ladder.ladder(session)}
    moves = dict(
        session.execute(select(TierChange.reason, func.count()).group_by(TierChange.reason)).all()
    )
    return TierReport(
        earned, moves.get(ChangeReason.upgrade, 0), moves.get(ChangeReason.downgrade, 0), counts
    )


def _grow(session: Session) -> int:
    """Every member order's growth as an entry at the order's time, in batches; then each
    member's tier row holding the base tier with the sum (the cached lifetime growth)."""
    rules = program.program(session)
    earned = 0
    iterator = iter(orders.member_order_ids(session))
    while chunk := list(islice(iterator, BATCH)):
        rows = []
        for order in orders.completed_payloads(session, chunk):
            assert order.member_id is not None
            amount = growth.order_growth(order, order.member_id, rules)
            if amount > 0:
                rows.append(
                    growth.entry(
                        order.member_id,
                        GrowthKind.order,
                        amount,
                        "order",
                        order.occurred_at,
                        store_id=order.store_id,
                        order_id=order.order_id,
                    )
                )
                earned += amount
        statements.insert_rows(session, growth.ENTRIES, rows)
        session.expunge_all()
    home = ladder.base(ladder.ladder(session))
    assert home is not None
    sums = (
        select(
            Member.id,
            literal(home.id),
            Member.registered_at,
            func.sum(GrowthEntry.growth),
            literal(clock.now()),
        )
        .join(GrowthEntry, GrowthEntry.member_id == Member.id)
        .group_by(Member.id, Member.registered_at)
    )
    columns = ["member_id", "tier_id", "since", "growth", "updated_at"]
    session.execute(insert(MemberTier).from_select(columns, sums))
    return earned


def _climb(session: Session) -> None:
    """The history month by month: at each step paid terms issue their months' coupons and
    lapse, the members due for review are reviewed (downgrades), a few members buy or renew the
    paid plan, then every member whose qualifying growth reached a higher tier is upgraded."""
    now = clock.now()
    rungs = ladder.ladder(session)
    metric = program.program(session).metric
    gold = ladder.by_code(rungs, "gold")
    assert gold is not None  # the demo's own ladder
    values = PAID_PLAN | {"tier_id": gold.id, "benefits": _monthly_coupons(session)}
    plan_id = paid.save_plan(session, SYSTEM, values).id
    for months_back in range(DEMO_MONTHS, -1, -1):
        at = now - timedelta(days=30.4 * months_back)
        with clock.frozen(at):
            paid.issue_monthly_coupons(session, at)
            paid.lapse(session, at)
            review.run(session, at)
            for member_id in _paying(session, months_back):
                paid.pay(session, SYSTEM, member_id, paid.Payment(plan_id, "wechat_pay", "", None))
            for member_id in _rising(session, rungs, metric, at):
                standing.evaluate_upgrade(session, member_id, now=at)
        session.expunge_all()


def _monthly_coupons(session: Session) -> dict[str, Any]:
    """The plan's benefit set: the demo's active shipping coupon template once a month, if any."""
    found = templates.list_templates(session, TemplateStatus.active, None, MAX_LIMIT).items
    shipping = [t for t in found if t.type == CouponType.shipping]
    if not shipping:
        return {}
    return {"monthly_coupons": [{"template_id": shipping[0].id, "count": 1}]}


def _paying(session: Session, months_back: int) -> list[int]:
    """Members buying the quarterly plan four months back, half of them renewing two months
    back: some paid members now, some lapsed."""
    every = {PAID_FROM: PAID_EVERY, PAID_RENEW: 2 * PAID_EVERY}.get(months_back)
    if every is None:
        return []
    ids = session.scalars(
        select(Member.id).where(Member.status == "active", Member.id % every == 0)
    )
    return list(ids)


def _rising(session: Session, rungs: tuple[Rung, ...], metric: str, at: datetime) -> list[int]:
    """The members whose qualifying growth at `at` reaches a tier above the one they hold."""
    window = growth.qualifying_growth_select(metric, at).subquery()
    reached = session.execute(
        select(window.c.member_id, window.c.qualifying, MemberTier.tier_id)
        .join(MemberTier, MemberTier.member_id == window.c.member_id)
        .where(window.c.qualifying >= rungs[1].entry_threshold)
    ).all()
    rank = {r.id: r.rank for r in rungs}
    rising = []
    for member_id, qualifying, tier_id in reached:
        target = ladder.earned(rungs, int(qualifying))
        if target is not None and target.rank > rank.get(tier_id, 0):
            rising.append(member_id)
    return sorted(rising)
