"""Earning points. How many an order earns: the base (1 point per ¥1 paid, not counting what
points and coupons paid nor the bonus part of stored value, rounded down per order) plus what the
active rules add; pure arithmetic over the order's facts (`compute`), so the preview, live
earning and the demo history all run the same code. Then `earn` writes what orders earn to the
ledger, as lots and entries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.core import clock, events, statements
from patron.core.db import insert_or_skip
from patron.core.settings import get_settings
from patron.members import registry
from patron.orders.events import ORDER_COMPLETED, OrderCompleted
from patron.points import events as points_events
from patron.points.accounts import ENTRIES, LOTS, credit_account, lock_accounts
from patron.points.models import (
    EntryKind,
    LotStatus,
    PointsRule,
    RuleAward,
    RuleEffect,
)
from patron.points.policy import EarningTerms, earning_terms, expiry_for
from patron.points.rules import Rule, active_rules

if TYPE_CHECKING:
    from patron.tiers.ladder import Rung

FEN_PER_POINT = 100  # 1 point per ¥1
AWARDS = cast(Table, RuleAward.__table__)
AnyRule = Rule | PointsRule  # a cached rule, or a rule being edited or previewed
NOT_EARNING = ("points", "coupon")


@dataclass(frozen=True)
class LineFacts:
    product_id: int | None
    sku: str
    category_id: int | None
    quantity: int
    paid: int


@dataclass(frozen=True)
class OrderFacts:
    order_id: int | None
    member_id: int
    store_id: int
    channel: str
    occurred_at: datetime
    total: int
    payments: dict[str, int]
    lines: tuple[LineFacts, ...]
    # Fen paid from stored value's bonus that earn nothing (0 with PATRON_STORED_VALUE_BONUS_EARNS).
    stored_value_bonus: int = 0


@dataclass(frozen=True)
class MemberFacts:
    birthday_md: str | None  # "MM-DD"
    attributes: dict[str, Any] = field(default_factory=dict)
    tier: str | None = None  # the code of the member's tier; None when tiers are off
    points_factor: int = 100  # the tier's multiplier in hundredths: 150 = ×1.5


@dataclass(frozen=True)
class Fired:
    rule_id: int
    name: str
    points: int


@dataclass(frozen=True)
class Earning:
    base: int
    fired: tuple[Fired, ...]

    @property
    def total(self) -> int:
        return self.base + sum(f.points for f in self.fired)


def eligible_fen(order: OrderFacts) -> int:
    not_earning = sum(order.payments.get(m, 0) for m in NOT_EARNING) + order.stored_value_bonus
    return max(0, order.total - not_earning)


def _order_matches(rule: AnyRule, order: OrderFacts, day: date, member: MemberFacts) -> bool:
    c = rule.conditions
    if c.get("store_ids") and order.store_id not in c["store_ids"]:
        return False
    if c.get("channels") and order.channel not in c["channels"]:
        return False
    if c.get("date_from") and day < date.fromisoformat(c["date_from"]):
        return False
    if c.get("date_to") and day > date.fromisoformat(c["date_to"]):
        return False
    if c.get("weekdays") and day.isoweekday() not in c["weekdays"]:
        return False
    if c.get("tiers") and member.tier not in c["tiers"]:
        return False
    if c.get("birthday"):
        if not member.birthday_md:
            return False
        month, day_of_month = (int(x) for x in member.birthday_md.split("-"))
        if month != day.month or (c["birthday"] == "day" and day_of_month != day.day):
            return False
    return all(
        member.attributes.get(k) == v
        or (isinstance(member.attributes.get(k), list) and v in member.attributes[k])
        for k, v in (c.get("attributes") or {}).items()
    )


def _matching_lines(rule: AnyRule, order: OrderFacts) -> list[LineFacts]:
    c = rule.conditions
    categories, products = set(c.get("category_ids") or ()), set(c.get("product_ids") or ())
    skus = set(c.get("skus") or ())
    return [
        line
        for line in order.lines
        if (not categories or line.category_id in categories)
        and (not products or line.product_id in products)
        and (not skus or line.sku in skus)
    ]


def rule_points(
    rule: AnyRule, order: OrderFacts, lines: list[LineFacts], member: MemberFacts
) -> int:
    if not lines:
        return 0
    if rule.effect == RuleEffect.add_per_order:
        return rule.amount
    if rule.effect == RuleEffect.add_per_item:
        return rule.amount * sum(line.quantity for line in lines)
    # multiply, tier: the extra on the matching share of the eligible spend; factor in hundredths
    factor = member.points_factor if rule.effect == RuleEffect.tier else rule.amount
    matching = sum(line.paid for line in lines)
    eligible_matching = eligible_fen(order) * matching // order.total if order.total else 0
    return eligible_matching * (factor - 100) // (100 * FEN_PER_POINT)


def compute(
    order: OrderFacts,
    local_day: date,
    member: MemberFacts,
    rules: Sequence[AnyRule],
    awarded_today: dict[int, int],
) -> Earning:
    """The base and the points each firing rule adds, after caps. Rules are taken by priority;
    a rule that does not stack applies alone, and only when no other rule has applied yet."""
    base = eligible_fen(order) // FEN_PER_POINT
    fired: list[Fired] = []
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if not rule.active or (fired and not rule.stackable):
            continue
        if not _order_matches(rule, order, local_day, member):
            continue
        points = rule_points(rule, order, _matching_lines(rule, order), member)
        if rule.cap_per_order is not None:
            points = min(points, rule.cap_per_order)
        if rule.cap_per_member_day is not None:
            points = min(points, max(0, rule.cap_per_member_day - awarded_today.get(rule.id, 0)))
        if points <= 0:
            continue
        fired.append(Fired(rule.id, rule.name, points))
        if not rule.stackable:
            break
    return Earning(base, tuple(fired))


# --- awarding: what orders earn, written to the ledger ---------------------------------------


def _awarded_today(session: Session, member_id: int, day: date) -> dict[int, int]:
    rows = session.execute(
        select(RuleAward.rule_id, RuleAward.points).where(
            RuleAward.member_id == member_id, RuleAward.day == day
        )
    )
    return {rule_id: points for rule_id, points in rows}


def preview(session: Session, order: OrderFacts, member: MemberFacts) -> Earning:
    day = order.occurred_at.astimezone(clock.business_tz()).date()
    return compute(
        order, day, member, active_rules(session), _awarded_today(session, order.member_id, day)
    )


def earn(
    session: Session,
    orders: Sequence[OrderFacts],
    operator: str,
    known: dict[int, MemberFacts] | None = None,
) -> int:
    """Award the points these member orders earn: one lot and one `earn` entry each, debts paid
    first. Live intake passes one order; loading history passes thousands. Returns points."""
    if not orders:
        return 0
    rules = active_rules(session)
    if known is None:
        profile, tier = needed_facts(rules)
        members = {o.member_id for o in orders} if profile or tier else set()
        known = member_facts(session, members, profile=profile, tier=tier)
    earned, awards = _compute_all(session, orders, rules, known)
    if not earned:
        return 0
    terms, now = earning_terms(session), clock.now()
    # No settling here: earning spends nothing, and lots already due are left to the job (or to
    # the next spend), which keeps loading history fast.
    if len(earned) == 1 and _credit_one(session, *earned[0], terms, now, operator):
        pass
    else:
        _credit_under_lock(session, earned, terms, now, operator)
    _record_awards(session, awards)
    return sum(earning.total for _, earning in earned)


Awards = dict[tuple[int, int, date], int]


def _compute_all(
    session: Session,
    orders: Sequence[OrderFacts],
    rules: Sequence[AnyRule],
    known: dict[int, MemberFacts],
) -> tuple[list[tuple[OrderFacts, Earning]], Awards]:
    """What each order earns, oldest first, and what the rules award per member and day."""
    awards: Awards = defaultdict(int)
    earned = []
    capped = any(r.cap_per_member_day for r in rules)
    for order in sorted(orders, key=lambda o: o.occurred_at):
        day = order.occurred_at.astimezone(clock.business_tz()).date()
        today = _awarded_today(session, order.member_id, day) if capped else {}
        for (rule_id, member_id, award_day), points in awards.items():
            if member_id == order.member_id and award_day == day:
                today[rule_id] = today.get(rule_id, 0) + points
        earning = compute(order, day, known.get(order.member_id, MemberFacts(None)), rules, today)
        if earning.total <= 0:
            continue
        for fired in earning.fired:
            awards[(fired.rule_id, order.member_id, day)] += fired.points
        earned.append((order, earning))
    return earned, awards


@dataclass(frozen=True)
class Credit:
    """One order's earning as the ledger records it."""

    to_debt: int
    kept: int
    pending: bool
    lot: dict[str, Any] | None
    entry: dict[str, Any]


def _credit(
    order: OrderFacts,
    earning: Earning,
    terms: EarningTerms,
    now: datetime,
    operator: str,
    debt: int,
) -> Credit:
    expires_at = expiry_for(terms, order.occurred_at)
    # Points already expired on arrival (a late order) are worth nothing, debts included.
    alive = expires_at is None or expires_at > now
    to_debt = min(debt, earning.total) if alive else 0
    kept = earning.total - to_debt
    release_at = order.occurred_at + timedelta(days=terms.pending_days)
    pending = kept > 0 and release_at > now
    lot = (
        {
            "member_id": order.member_id,
            "order_id": order.order_id,
            "store_id": order.store_id,
            "points": kept,
            "remaining": kept,
            "status": (LotStatus.pending if pending else LotStatus.available).value,
            "earned_at": order.occurred_at,
            "release_at": release_at,
            "expires_at": expires_at,
        }
        if kept > 0
        else None
    )
    entry = {
        "member_id": order.member_id,
        "kind": EntryKind.earn.value,
        "points": earning.total,
        "order_id": order.order_id,
        "store_id": order.store_id,
        "operator": operator,
        "reason": f"paid debt {to_debt}" if to_debt else "",
        "debt_paid": to_debt,
        "rules": [{"rule_id": None, "name": "base", "points": earning.base}]
        + [asdict(f) for f in earning.fired],
        "lapsed": 0,
        "created_at": now,
    }
    return Credit(to_debt, kept, pending, lot, entry)


def _credit_one(
    session: Session,
    order: OrderFacts,
    earning: Earning,
    terms: EarningTerms,
    now: datetime,
    operator: str,
) -> bool:
    """Live intake's one order, when the account owes nothing (the usual case): one statement
    (on PostgreSQL) creates or updates the account under its row lock and writes the lot and
    the entry. False, writing nothing, when it owes."""
    credit = _credit(order, earning, terms, now, operator, debt=0)
    expires_at = credit.lot["expires_at"] if credit.lot else None
    # Points expired on arrival pay no debt, so an account in debt may take them all the same.
    any_debt = expires_at is not None and expires_at <= now
    added = {"pending": credit.kept} if credit.pending else {"available": credit.kept}
    credited = credit_account(
        session, order.member_id, now, credit.entry, credit.lot, any_debt=any_debt, **added
    )
    if credited is None:
        return False
    entry = credit.entry
    points_events.publish(
        session,
        order.member_id,
        credited.entry_id,
        entry["kind"],
        entry["points"],
        credited.balance,
        entry,
    )
    return True


def _credit_under_lock(
    session: Session,
    earned: list[tuple[OrderFacts, Earning]],
    terms: EarningTerms,
    now: datetime,
    operator: str,
) -> None:
    accounts = lock_accounts(session, (order.member_id for order, _ in earned))
    credits, balances = [], []
    for order, earning in earned:
        account = accounts[order.member_id]
        credit = _credit(order, earning, terms, now, operator, debt=account.debt)
        account.debt -= credit.to_debt
        if credit.pending:
            account.pending += credit.kept
        else:
            account.available += credit.kept
        credits.append(credit)
        balances.append(account.available + account.pending - account.debt)
    _write_ledger(session, credits)
    session.flush()
    with events.batched(session):  # one outbox statement however many orders
        for credit, balance in zip(credits, balances, strict=True):
            entry = credit.entry
            points_events.publish(
                session, entry["member_id"], None, entry["kind"], entry["points"], balance, entry
            )


def _write_ledger(session: Session, credits: list[Credit]) -> None:
    statements.insert_rows(session, LOTS, [c.lot for c in credits if c.lot is not None])
    statements.insert_rows(session, ENTRIES, [c.entry for c in credits])


def _record_awards(session: Session, awards: Awards) -> None:
    """Add to each rule's per-member, per-day award row, creating it: one prepared statement
    (the live order's one row, or many in one call)."""
    if not awards:
        return
    rows = [
        {"rule_id": rule_id, "member_id": member_id, "day": day, "points": points}
        for (rule_id, member_id, day), points in awards.items()
    ]
    if len(rows) == 1:
        _add_award().run(session, rows[0])
    else:
        _add_award().run_many(session, rows)


@cache
def _add_award() -> statements.Prepared:
    def build(session: Session) -> Any:
        columns = ("rule_id", "member_id", "day", "points")
        upsert = insert_or_skip(session, AWARDS).values(
            {c: bindparam(c, type_=AWARDS.c[c].type) for c in columns}
        )
        return upsert.on_conflict_do_update(
            index_elements=["rule_id", "member_id", "day"],
            set_={"points": AWARDS.c.points + upsert.excluded.points},
        )

    return statements.Prepared(build)


def order_facts(order: OrderCompleted, member_id: int) -> OrderFacts:
    return OrderFacts(
        order_id=order.order_id,
        member_id=member_id,
        store_id=order.store_id,
        channel=order.channel,
        occurred_at=order.occurred_at,
        total=order.total,
        payments=order.payments,
        lines=tuple(
            LineFacts(line.product_id, line.sku, line.category_id, line.quantity, line.paid)
            for line in order.lines
        ),
        stored_value_bonus=_not_earning_bonus(order),
    )


def _not_earning_bonus(order: OrderCompleted) -> int:
    return 0 if get_settings().stored_value_bonus_earns else order.stored_value_bonus


def needed_facts(rules: Sequence[AnyRule]) -> tuple[bool, bool]:
    """Whether the rules read the members' birthdays or attributes, and their tiers: live intake
    queries neither when no rule does."""
    profile = any(r.conditions.get("birthday") or r.conditions.get("attributes") for r in rules)
    tier = any(r.conditions.get("tiers") or r.effect == RuleEffect.tier for r in rules)
    return profile, tier


def member_facts(
    session: Session, member_ids: Iterable[int], *, profile: bool = True, tier: bool = True
) -> dict[int, MemberFacts]:
    """What rules read of many members at once: birthday and attributes of active members (two
    queries), and each member's tier (one query, the ladder cached)."""
    ids = set(member_ids)
    if not ids:
        return {}
    facts = registry.rule_facts(session, ids) if profile else {i: (None, {}) for i in ids}
    tiers = _tiers_of(session, facts) if tier else {}
    return {
        member_id: MemberFacts(
            birthday_md,
            attributes,
            tiers[member_id].code if member_id in tiers else None,
            tiers[member_id].points_factor if member_id in tiers else 100,
        )
        for member_id, (birthday_md, attributes) in facts.items()
    }


def _tiers_of(session: Session, member_ids: Iterable[int]) -> dict[int, Rung]:
    # Tiers build on points (growth counts what points count, gifts grant points).
    from patron.tiers.standing import tiers_of

    return tiers_of(session, member_ids)


@ORDER_COMPLETED.subscribers.register("points.earn")
def _earn_on_order(session: Session, event: events.Event[OrderCompleted]) -> None:
    order = event.payload
    if order.member_id is None:
        return
    earn(session, [order_facts(order, order.member_id)], operator="order")


def with_catalog(session: Session, order: OrderFacts) -> OrderFacts:
    """Fill product and category ids of a previewed order from the catalog, for line rules."""

    products = catalog.products_by_sku(session, [line.sku for line in order.lines])
    lines = tuple(
        replace(
            line,
            product_id=products[line.sku].id if line.sku in products else None,
            category_id=products[line.sku].category_id if line.sku in products else None,
        )
        for line in order.lines
    )
    return replace(order, lines=lines)
