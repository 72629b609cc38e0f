"""The points ledger (积分). Every change is an entry; balances are derived from lots and entries
and cached per member under a row lock. Not one point is minted or lost: burns record the lots
they drew from so refunds restore exactly those, and refunds after spending leave a debt that
later earnings pay first."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, and_, func, insert, nulls_last, or_, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.catalog import service as catalog
from patron.core import clock, events
from patron.core.actor import Actor
from patron.core.db import insert_or_skip
from patron.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from patron.core.money import MAX_FEN
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.members import service as members
from patron.members.models import Member
from patron.orders import service as orders
from patron.points.earning import Earning, LineFacts, MemberFacts, OrderFacts, compute
from patron.points.models import (
    AdjustmentStatus,
    EntryKind,
    ExpiryNotice,
    ExpiryPolicy,
    LotStatus,
    PointsAccount,
    PointsAdjustment,
    PointsAllocation,
    PointsEntry,
    PointsLot,
    PointsPolicy,
    PointsRule,
    RuleAward,
)
from patron.stores import service as stores

# Per-member rows that add up points under a key, and fold together on a merge.
MemberTally = TypeVar("MemberTally", RuleAward, ExpiryNotice)
MAX_BALANCE = MAX_FEN  # balances live in 32-bit integer columns
ACCOUNTS = cast(Table, PointsAccount.__table__)
LOTS = cast(Table, PointsLot.__table__)
ENTRIES = cast(Table, PointsEntry.__table__)


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = "Not enough available points"


class AdjustmentNotFound(NotFound):
    code = "adjustment_not_found"
    title = "Adjustment not found"


class RuleNotFound(NotFound):
    code = "rule_not_found"
    title = "Points rule not found"


class RuleInUse(Conflict):
    code = "rule_in_use"
    title = "This rule has awarded points; switch it off instead"


# --- policy and expiry dates ----------------------------------------------------------------------


def get_policy(session: Session) -> PointsPolicy:
    policy = session.get(PointsPolicy, 1)
    if policy is None:
        policy = PointsPolicy(id=1)
        session.add(policy)
        session.flush()
    return policy


def add_months(day: date, months: int) -> date:
    """Calendar months later; the 29th of February a year on is the 28th."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: date) -> datetime:
    """23:59:59 of `day` in the business time zone."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=clock.business_tz())


def expiry_for(policy: PointsPolicy, earned_at: datetime) -> datetime | None:
    local_day = earned_at.astimezone(clock.business_tz()).date()
    if policy.expiry_policy == ExpiryPolicy.never:
        return None
    if policy.expiry_policy == ExpiryPolicy.year_end:
        return end_of_day(date(local_day.year + 1, 12, 31))
    return end_of_day(add_months(local_day, policy.rolling_months))


# --- accounts -------------------------------------------------------------------------------------


def lock_accounts(session: Session, member_ids: Iterable[int]) -> dict[int, PointsAccount]:
    """The members' accounts, created when missing, locked in primary-key order (no deadlocks)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    accounts = _select_for_update(session, ids)
    missing = [i for i in ids if i not in accounts]
    if missing:
        now = clock.now()
        rows = [
            {"member_id": i, "available": 0, "pending": 0, "debt": 0, "updated_at": now}
            for i in missing
        ]
        session.execute(
            insert_or_skip(session, ACCOUNTS).on_conflict_do_nothing(index_elements=["member_id"]),
            rows,
        )
        accounts |= _select_for_update(session, missing)
    return accounts


def _select_for_update(session: Session, ids: list[int]) -> dict[int, PointsAccount]:
    query = (
        select(PointsAccount)
        .where(PointsAccount.member_id.in_(ids))
        .order_by(PointsAccount.member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {a.member_id: a for a in session.scalars(query)}


def _entry(
    session: Session, member_id: int, kind: EntryKind, points: int, operator: str, **fields: Any
) -> PointsEntry:
    entry = PointsEntry(
        member_id=member_id, kind=kind.value, points=points, operator=operator, **fields
    )
    session.add(entry)
    session.flush()
    return entry


def settle_due(session: Session, account: PointsAccount, now: datetime) -> None:
    """Release this member's due pending lots and expire their due lots, before anything reads or
    spends the balance: no expired point is ever spent, whenever the job last ran."""
    due = session.scalars(
        select(PointsLot)
        .where(
            PointsLot.member_id == account.member_id,
            PointsLot.remaining > 0,
            or_(
                and_(PointsLot.status == LotStatus.pending.value, PointsLot.release_at <= now),
                and_(PointsLot.status == LotStatus.available.value, PointsLot.expires_at <= now),
            ),
        )
        .order_by(PointsLot.id)
    ).all()
    for lot in due:
        if lot.status == LotStatus.pending:
            lot.status = LotStatus.available.value
            account.pending -= lot.remaining
            account.available += lot.remaining
        if lot.expires_at is not None and lot.expires_at <= now:
            _expire_lot(session, account, lot)
    pay_debt(session, account, now)
    session.flush()


def pay_debt(session: Session, account: PointsAccount, now: datetime) -> None:
    """Points that become spendable while a debt is open (released from pending, restored by a
    refund, brought by a merge) pay the debt first, as new earnings do. The entry moves no
    balance (available and debt fall together); its allocations say which lots paid. Callers
    settle the account's due lots first, so `available` holds no expired point."""
    pay = min(account.debt, account.available)
    if pay <= 0:
        return
    entry = _entry(session, account.member_id, EntryKind.debt_payment, 0, "system")
    paid = _draw(session, entry, _spendable_lots(session, account.member_id, now), pay)
    entry.reason = f"paid debt {paid}"
    entry.debt_paid = paid
    account.available -= paid
    account.debt -= paid


def _expire_lot(session: Session, account: PointsAccount, lot: PointsLot) -> None:
    _entry(
        session,
        lot.member_id,
        EntryKind.expire,
        -lot.remaining,
        "system",
        lot_id=lot.id,
        store_id=lot.store_id,
        reason="expired",
    )
    account.available -= lot.remaining
    lot.remaining = 0
    lot.status = LotStatus.expired.value


# --- earning --------------------------------------------------------------------------------------


def active_rules(session: Session) -> list[PointsRule]:
    return list(session.scalars(select(PointsRule).where(PointsRule.active.is_(True))))


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
    policy, rules, now = get_policy(session), active_rules(session), clock.now()
    if known is None:
        needed = any(r.conditions.get("birthday") or r.conditions.get("attributes") for r in rules)
        known = member_facts(session, {o.member_id for o in orders}) if needed else {}
    # No settling here: earning spends nothing, and lots already due are left to the job (or to
    # the next spend), which keeps loading history fast.
    accounts = lock_accounts(session, (o.member_id for o in orders))
    awards: dict[tuple[int, int, date], int] = defaultdict(int)
    lots, entries, total = [], [], 0
    for order in sorted(orders, key=lambda o: o.occurred_at):
        day = order.occurred_at.astimezone(clock.business_tz()).date()
        today = (
            _awarded_today(session, order.member_id, day)
            if any(r.cap_per_member_day for r in rules)
            else {}
        )
        for (rule_id, member_id, award_day), points in awards.items():
            if member_id == order.member_id and award_day == day:
                today[rule_id] = today.get(rule_id, 0) + points
        earning = compute(order, day, known.get(order.member_id, MemberFacts(None)), rules, today)
        if earning.total <= 0:
            continue
        for fired in earning.fired:
            awards[(fired.rule_id, order.member_id, day)] += fired.points
        account = accounts[order.member_id]
        expires_at = expiry_for(policy, order.occurred_at)
        # Points already expired on arrival (a late order) are worth nothing, debts included.
        alive = expires_at is None or expires_at > now
        to_debt = min(account.debt, earning.total) if alive else 0
        account.debt -= to_debt
        kept = earning.total - to_debt
        release_at = order.occurred_at + timedelta(days=policy.pending_days)
        pending = kept > 0 and release_at > now
        if kept > 0:
            lots.append(
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
            )
            if pending:
                account.pending += kept
            else:
                account.available += kept
        entries.append(
            {
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
        )
        total += earning.total
    if lots:
        session.execute(insert(LOTS), lots)
    if entries:
        session.execute(insert(ENTRIES), entries)
    _record_awards(session, awards)
    session.flush()
    return total


def _record_awards(session: Session, awards: dict[tuple[int, int, date], int]) -> None:
    for (rule_id, member_id, day), points in awards.items():
        row = session.scalar(
            select(RuleAward).where(
                RuleAward.rule_id == rule_id, RuleAward.member_id == member_id, RuleAward.day == day
            )
        )
        if row is None:
            session.add(RuleAward(rule_id=rule_id, member_id=member_id, day=day, points=points))
        else:
            row.points += points


# --- burning --------------------------------------------------------------------------------------


def _spendable_lots(session: Session, member_id: int, now: datetime) -> list[PointsLot]:
    return list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.member_id == member_id,
                PointsLot.status == LotStatus.available.value,
                PointsLot.remaining > 0,
                or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
            )
            .order_by(nulls_last(PointsLot.expires_at.asc()), PointsLot.id)
        )
    )


def _draw(session: Session, entry: PointsEntry, lots: list[PointsLot], points: int) -> int:
    """Take up to `points` from `lots` in order, recording allocations; returns what was taken."""
    taken = 0
    for lot in lots:
        if taken == points:
            break
        part = min(lot.remaining, points - taken)
        if part <= 0:
            continue
        lot.remaining -= part
        if lot.remaining == 0 and lot.status == LotStatus.pending:
            lot.status = LotStatus.cancelled.value
        session.add(PointsAllocation(entry_id=entry.id, lot_id=lot.id, points=part))
        taken += part
    return taken


def burn(
    session: Session,
    actor: Actor,
    member_id: int,
    points: int,
    reason: str,
    order_id: int | None = None,
    store_id: int | None = None,
) -> PointsEntry:
    """Spend points, earliest-expiring lots first."""
    policy, now = get_policy(session), clock.now()
    if points < policy.min_burn:
        raise InvalidInput(
            "points", f"at least {policy.min_burn} points per burn", code=Reason.below_min_burn
        )
    _check_store(session, actor, store_id)
    account = lock_accounts(session, [member_id])[member_id]
    if order_id is not None:
        # After the lock: concurrent burns on one order see each other's points.
        _check_order_share(session, actor, policy, member_id, order_id, points)
    settle_due(session, account, now)
    if account.available < points:
        raise InsufficientPoints(
            f"{account.available} points available, {points} asked", available=account.available
        )
    entry = _entry(
        session,
        member_id,
        EntryKind.burn,
        -points,
        actor.name,
        order_id=order_id,
        store_id=store_id,
        reason=reason,
    )
    _draw(session, entry, _spendable_lots(session, member_id, now), points)
    account.available -= points
    session.flush()
    return entry


def _check_store(session: Session, actor: Actor, store_id: int | None) -> None:
    """The store a burn or an adjustment is booked to: one that exists, in the caller's scope."""
    if store_id is None:
        return
    if not actor.sees_store(store_id):
        raise InvalidInput(
            "store_id", f"no store {store_id} in your scope", code=Reason.unknown_store
        )
    stores.check_ids_exist(session, [store_id], field="store_id")


def _check_order_share(
    session: Session,
    actor: Actor,
    policy: PointsPolicy,
    member_id: int,
    order_id: int,
    points: int,
) -> None:
    """Points paying for an order: the member's own order in the caller's stores, and at most the
    policy's share of it."""
    try:
        order = orders.get_order(session, actor, order_id)
    except orders.OrderNotFound as exc:
        raise InvalidInput(
            "order_id", f"no order {order_id} in your scope", code=Reason.unknown_order
        ) from exc
    owner, total = order.member_id, order.total
    if owner != member_id:
        raise InvalidInput(
            "order_id", f"order {order_id} is not this member's", code=Reason.order_of_other_member
        )
    already = -_order_sum(session, order_id, EntryKind.burn)
    most = total * policy.max_order_share_pct // 100 * policy.points_per_yuan_value // 100
    if already + points > most:
        raise InvalidInput(
            "points",
            f"points may pay at most {policy.max_order_share_pct}% of the order: {most} points",
            code=Reason.exceeds_order_share,
        )


# --- refunds --------------------------------------------------------------------------------------


def _order_sum(
    session: Session, order_id: int, kind: EntryKind, column: Any = PointsEntry.points
) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(column), 0)).where(
                PointsEntry.order_id == order_id, PointsEntry.kind == kind.value
            )
        )
        or 0
    )


def on_refund(
    session: Session,
    member_id: int,
    order_id: int,
    refund_id: int,
    refunded_total: int,
    order_total: int,
    store_id: int | None,
) -> None:
    """After refunds totalling R of an order that paid P: earned points reversed reach
    floor(E × R / P) and burned points restored (or lapsed) reach floor(B × R / P)."""
    if order_total <= 0:
        return
    now = clock.now()
    account = lock_accounts(session, [member_id])[member_id]
    settle_due(session, account, now)
    earned = _order_sum(session, order_id, EntryKind.earn)
    reversed_ = -_order_sum(session, order_id, EntryKind.refund_reversal)
    due = earned * refunded_total // order_total - reversed_
    if due > 0:
        _reverse(session, account, order_id, refund_id, due, store_id, now)
    burned = -_order_sum(session, order_id, EntryKind.burn)
    handled = _order_sum(session, order_id, EntryKind.refund_restore) + _order_sum(
        session, order_id, EntryKind.refund_restore, PointsEntry.lapsed
    )
    owed = burned * refunded_total // order_total - handled
    if owed > 0:
        _restore(session, account, order_id, refund_id, owed, store_id, now)
    session.flush()


def _reverse(
    session: Session,
    account: PointsAccount,
    order_id: int,
    refund_id: int,
    points: int,
    store_id: int | None,
    now: datetime,
) -> None:
    """The order's own lots first (pending ones are cancelled), then other spendable lots, and
    what is still missing becomes debt."""
    entry = _entry(
        session,
        account.member_id,
        EntryKind.refund_reversal,
        -points,
        "system",
        order_id=order_id,
        refund_id=refund_id,
        store_id=store_id,
        reason="order refunded",
    )
    own = list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.order_id == order_id,
                PointsLot.member_id == account.member_id,
                PointsLot.remaining > 0,
            )
            .order_by(PointsLot.id)
        )
    )
    from_pending = _draw(
        session, entry, [lot for lot in own if lot.status == LotStatus.pending], points
    )
    account.pending -= from_pending
    from_own = _draw(
        session,
        entry,
        [lot for lot in own if lot.status == LotStatus.available],
        points - from_pending,
    )
    account.available -= from_own
    rest = points - from_pending - from_own
    if rest:
        others = [
            lot
            for lot in _spendable_lots(session, account.member_id, now)
            if lot.order_id != order_id
        ]
        more = _draw(session, entry, others, rest)
        account.available -= more
        account.debt += rest - more


def _restore(
    session: Session,
    account: PointsAccount,
    order_id: int,
    refund_id: int,
    points: int,
    store_id: int | None,
    now: datetime,
) -> None:
    """Back into the lots the order's burns drew from, while those lots have not expired."""
    burns = select(PointsEntry.id).where(
        PointsEntry.order_id == order_id, PointsEntry.kind == EntryKind.burn.value
    )
    restores = select(PointsEntry.id).where(
        PointsEntry.order_id == order_id, PointsEntry.kind == EntryKind.refund_restore.value
    )
    drawn: dict[int, int] = defaultdict(int)
    for lot_id, part in session.execute(
        select(PointsAllocation.lot_id, PointsAllocation.points).where(
            PointsAllocation.entry_id.in_(burns)
        )
    ):
        drawn[lot_id] += part
    for lot_id, part in session.execute(
        select(PointsAllocation.lot_id, PointsAllocation.points).where(
            PointsAllocation.entry_id.in_(restores)
        )
    ):
        drawn[lot_id] += part  # restore allocations are negative: given back
    entry = _entry(
        session,
        account.member_id,
        EntryKind.refund_restore,
        0,
        "system",
        order_id=order_id,
        refund_id=refund_id,
        store_id=store_id,
        reason="order refunded",
    )
    restored = lapsed = 0
    lots = {
        lot.id: lot
        for lot in session.scalars(select(PointsLot).where(PointsLot.id.in_(list(drawn)))).all()
    }
    for lot_id in sorted(
        drawn, key=lambda i: (lots[i].expires_at is None, lots[i].expires_at or now, i)
    ):
        left = points - restored - lapsed
        part = min(drawn[lot_id], left)
        if part <= 0:
            continue
        lot = lots[lot_id]
        if lot.status == LotStatus.available and (lot.expires_at is None or lot.expires_at > now):
            lot.remaining += part
            session.add(PointsAllocation(entry_id=entry.id, lot_id=lot.id, points=-part))
            restored += part
        else:
            session.add(PointsAllocation(entry_id=entry.id, lot_id=lot.id, points=-part))
            lapsed += part
    entry.points, entry.lapsed = restored, lapsed
    account.available += restored
    pay_debt(session, account, now)


# --- adjustments ----------------------------------------------------------------------------------


def request_adjustment(
    session: Session,
    actor: Actor,
    member_id: int,
    points: int,
    reason: str,
    store_id: int | None = None,
) -> PointsAdjustment:
    """Small adjustments apply at once; from the approval size up they wait for a second HQ user."""
    if points == 0:
        raise InvalidInput(
            "points", "an adjustment moves at least one point", code=Reason.zero_points
        )
    if not reason.strip():
        raise InvalidInput("reason", "an adjustment needs a reason", code=Reason.missing)
    _check_store(session, actor, store_id)
    policy = get_policy(session)
    adjustment = PointsAdjustment(
        member_id=member_id,
        points=points,
        reason=reason.strip(),
        status=AdjustmentStatus.pending.value,
        store_id=store_id,
        requested_by=actor.name,
        requested_by_id=actor.id if actor.kind == "staff" else None,
    )
    session.add(adjustment)
    session.flush()
    audit.record(
        session,
        actor,
        "points.adjustment_request",
        "points_adjustment",
        adjustment.id,
        store_id=store_id,
        after={"member_id": member_id, "points": points, "reason": adjustment.reason},
    )
    if abs(points) < policy.approval_threshold:
        _apply(session, actor, adjustment)
    return adjustment


def decide_adjustment(
    session: Session, actor: Actor, adjustment_id: int, approve: bool
) -> PointsAdjustment:
    adjustment = session.scalar(
        select(PointsAdjustment).where(PointsAdjustment.id == adjustment_id).with_for_update()
    )
    if adjustment is None:
        raise AdjustmentNotFound(f"no adjustment {adjustment_id}")
    if adjustment.status != AdjustmentStatus.pending:
        raise Conflict(f"adjustment {adjustment_id} is {adjustment.status} already")
    if actor.kind == "staff" and actor.id == adjustment.requested_by_id:
        raise Forbidden("a second HQ user must approve or reject this adjustment")
    if approve:
        _apply(session, actor, adjustment)
    else:
        adjustment.status = AdjustmentStatus.rejected.value
        adjustment.decided_by, adjustment.decided_at = actor.name, clock.now()
    audit.record(
        session,
        actor,
        "points.adjustment_" + ("approve" if approve else "reject"),
        "points_adjustment",
        adjustment.id,
        store_id=adjustment.store_id,
    )
    session.flush()
    return adjustment


def _apply(session: Session, actor: Actor, adjustment: PointsAdjustment) -> None:
    now, policy = clock.now(), get_policy(session)
    account = lock_accounts(session, [adjustment.member_id])[adjustment.member_id]
    settle_due(session, account, now)
    reason = adjustment.reason
    if adjustment.points > 0:
        if account.available + account.pending + adjustment.points - account.debt > MAX_BALANCE:
            raise InvalidInput(
                "points",
                f"a balance holds at most {MAX_BALANCE} points",
                code=Reason.balance_too_large,
            )
        to_debt = min(account.debt, adjustment.points)
        account.debt -= to_debt
        kept = adjustment.points - to_debt
        lot = None
        if kept:
            lot = PointsLot(
                member_id=adjustment.member_id,
                store_id=adjustment.store_id,
                points=kept,
                remaining=kept,
                status=LotStatus.available.value,
                earned_at=now,
                release_at=now,
                expires_at=expiry_for(policy, now),
            )
            session.add(lot)
            session.flush()
            account.available += kept
        _entry(
            session,
            adjustment.member_id,
            EntryKind.adjust,
            adjustment.points,
            actor.name,
            lot_id=lot.id if lot else None,
            adjustment_id=adjustment.id,
            store_id=adjustment.store_id,
            reason=reason,
        )
    else:
        points = -adjustment.points
        if account.available < points:
            raise InsufficientPoints(
                f"{account.available} points available, {points} to deduct",
                available=account.available,
            )
        entry = _entry(
            session,
            adjustment.member_id,
            EntryKind.adjust,
            adjustment.points,
            actor.name,
            adjustment_id=adjustment.id,
            store_id=adjustment.store_id,
            reason=reason,
        )
        _draw(session, entry, _spendable_lots(session, adjustment.member_id, now), points)
        account.available -= points
    adjustment.status = AdjustmentStatus.applied.value
    adjustment.decided_by, adjustment.decided_at = actor.name, now
    session.flush()


def pending_adjustments(session: Session) -> list[PointsAdjustment]:
    return list(
        session.scalars(
            select(PointsAdjustment)
            .where(PointsAdjustment.status == AdjustmentStatus.pending.value)
            .order_by(PointsAdjustment.id)
        )
    )


# --- merge ----------------------------------------------------------------------------------------


def merge(session: Session, source_id: int, target_id: int) -> None:
    """Lots move with their expiry dates, the debt moves, and the ledger says so on both sides."""
    accounts = lock_accounts(session, [source_id, target_id])
    source, target = accounts[source_id], accounts[target_id]
    now = clock.now()
    settle_due(session, source, now)
    settle_due(session, target, now)
    balance = source.available + source.pending - source.debt
    session.execute(
        update(PointsLot).where(PointsLot.member_id == source_id).values(member_id=target_id)
    )
    session.execute(
        update(PointsAdjustment)
        .where(
            PointsAdjustment.member_id == source_id,
            PointsAdjustment.status == AdjustmentStatus.pending.value,
        )
        .values(member_id=target_id)
    )
    target.available += source.available
    target.pending += source.pending
    target.debt += source.debt
    source.available = source.pending = source.debt = 0
    pay_debt(session, target, now)
    _fold_into(session, RuleAward, lambda a: (a.rule_id, a.day), source_id, target_id)
    _fold_into(session, ExpiryNotice, lambda n: n.expires_at, source_id, target_id)
    if balance or source.debt:
        _entry(
            session,
            source_id,
            EntryKind.merge_out,
            -balance,
            "system",
            reason=f"merged into member {target_id}",
            merge_partner_id=target_id,
        )
        _entry(
            session,
            target_id,
            EntryKind.merge_in,
            balance,
            "system",
            reason=f"merged from member {source_id}",
            merge_partner_id=source_id,
        )
    session.flush()


def _fold_into(
    session: Session,
    model: type[MemberTally],
    key: Callable[[MemberTally], object],
    source_id: int,
    target_id: int,
) -> None:
    """Move the source's rows to the target; where the target has a row with the same `key`
    already, the points add up in it. The day's rule awards so count toward the survivor's daily
    caps (one person, one cap), and expiry notices follow the lots they announce."""
    kept = {
        key(row): row for row in session.scalars(select(model).where(model.member_id == target_id))
    }
    for row in session.scalars(select(model).where(model.member_id == source_id)).all():
        same = kept.get(key(row))
        if same is None:
            row.member_id = target_id
        else:
            same.points += row.points
            session.delete(row)


# --- queries and verification ---------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    debt: int
    expiring: list[tuple[datetime, int]]


def balance(session: Session, member_id: int) -> Balance:
    """Read-only: lots the job has not yet released or expired are counted as they are now."""
    now = clock.now()
    lots = session.scalars(
        select(PointsLot).where(
            PointsLot.member_id == member_id,
            PointsLot.remaining > 0,
            PointsLot.status.in_([LotStatus.available.value, LotStatus.pending.value]),
            or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
        )
    ).all()
    held = [
        lot
        for lot in lots
        if lot.status == LotStatus.pending and lot.release_at and lot.release_at > now
    ]
    spendable = [lot for lot in lots if lot not in held]
    expiring: dict[datetime, int] = defaultdict(int)
    for lot in spendable:
        if lot.expires_at is not None:
            expiring[lot.expires_at] += lot.remaining
    account = session.get(PointsAccount, member_id)
    available, debt = sum(lot.remaining for lot in spendable), account.debt if account else 0
    # Lots due for release but not yet released pay an open debt first when they are.
    paid = min(available, debt)
    return Balance(
        available=available - paid,
        pending=sum(lot.remaining for lot in held),
        debt=debt - paid,
        expiring=sorted(expiring.items())[:5],
    )


def entries(
    session: Session, member_id: int, cursor: str | None, limit: int
) -> PageResult[PointsEntry]:
    return paginate(
        session,
        select(PointsEntry).where(PointsEntry.member_id == member_id),
        PointsEntry.id,
        cursor,
        limit,
    )


def spendable_balances(session: Session, minimum: int) -> list[tuple[int, int]]:
    """(member, available) for members with at least `minimum` available, by member id."""
    rows = session.execute(
        select(PointsAccount.member_id, PointsAccount.available)
        .where(PointsAccount.available >= minimum)
        .order_by(PointsAccount.member_id)
    )
    return [(member_id, available) for member_id, available in rows]


@dataclass(frozen=True)
class Mismatch:
    member_id: int
    cached: tuple[int, int, int]
    from_lots: tuple[int, int]
    ledger: int


def verify(session: Session) -> list[Mismatch]:
    """Every member whose cached balances disagree with their lots or their ledger."""
    lots: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for member_id, status, remaining in session.execute(
        select(PointsLot.member_id, PointsLot.status, func.sum(PointsLot.remaining)).group_by(
            PointsLot.member_id, PointsLot.status
        )
    ):
        lots[member_id][status] = int(remaining or 0)
    ledger = {
        m: int(p or 0)
        for m, p in session.execute(
            select(PointsEntry.member_id, func.sum(PointsEntry.points)).group_by(
                PointsEntry.member_id
            )
        )
    }
    accounts = {a.member_id: a for a in session.scalars(select(PointsAccount))}
    found = []
    for member_id in sorted(set(lots) | set(ledger) | set(accounts)):
        account = accounts.get(member_id)
        cached = (account.available, account.pending, account.debt) if account else (0, 0, 0)
        from_lots = (lots[member_id][LotStatus.available], lots[member_id][LotStatus.pending])
        total = ledger.get(member_id, 0)
        if cached[:2] != from_lots or total != cached[0] + cached[1] - cached[2]:
            found.append(Mismatch(member_id, cached, from_lots, total))
    return found


# --- reacting to orders ---------------------------------------------------------------------------


def order_facts(payload: dict[str, Any]) -> OrderFacts:
    return OrderFacts(
        order_id=payload["order_id"],
        member_id=payload["member_id"],
        store_id=payload["store_id"],
        channel=payload["channel"],
        occurred_at=datetime.fromisoformat(payload["occurred_at"]),
        total=payload["total"],
        payments=payload["payments"],
        lines=tuple(
            LineFacts(
                line.get("product_id"),
                line["sku"],
                line.get("category_id"),
                line["quantity"],
                line["paid"],
            )
            for line in payload["lines"]
        ),
    )


def member_facts(session: Session, member_ids: Iterable[int]) -> dict[int, MemberFacts]:
    return {
        member_id: MemberFacts(birthday_md, attributes)
        for member_id, (birthday_md, attributes) in members.rule_facts(session, member_ids).items()
    }


@events.subscribe("order.completed")
def _earn_on_order(session: Session, event: events.Event) -> None:
    if event.payload.get("member_id") is None:
        return
    earn(session, [order_facts(event.payload)], operator="order")


@events.subscribe("order.refunded")
def _reverse_on_refund(session: Session, event: events.Event) -> None:
    payload = event.payload
    if payload.get("member_id") is None:
        return
    on_refund(
        session,
        payload["member_id"],
        payload["order_id"],
        payload["refund_id"],
        payload["refunded_total"],
        payload["order_total"],
        payload.get("store_id"),
    )


@members.on_merge("points")
def _merge_points(session: Session, source: Member, target: Member) -> None:
    merge(session, source.id, target.id)


@members.export_section("points")
def _export_points(session: Session, member: Member) -> dict[str, Any]:
    now = balance(session, member.id)
    history = session.scalars(
        select(PointsEntry).where(PointsEntry.member_id == member.id).order_by(PointsEntry.id)
    )
    return {
        "available": now.available,
        "pending": now.pending,
        "debt": now.debt,
        "entries": [
            {"kind": e.kind, "points": e.points, "reason": e.reason, "at": e.created_at.isoformat()}
            for e in history
        ],
    }


@members.timeline_source("points")
def _points_events(session: Session, member: Member) -> list[members.TimelineEvent]:
    rows = session.scalars(
        select(PointsEntry)
        .where(PointsEntry.member_id == member.id, PointsEntry.kind != EntryKind.earn.value)
        .order_by(PointsEntry.id.desc())
        .limit(30)
    )
    return [
        members.TimelineEvent(
            e.created_at,
            "points",
            e.kind,
            {
                "points": e.points,
                "reason": e.reason,
                "merge_partner_id": e.merge_partner_id,
                "debt_paid": e.debt_paid,
            },
        )
        for e in rows
    ]


# --- policy, rules, liability ---------------------------------------------------------------------


def update_policy(session: Session, actor: Actor, changes: dict[str, Any]) -> PointsPolicy:
    policy = get_policy(session)
    before = {k: getattr(policy, k) for k in changes}
    for field, value in changes.items():
        setattr(policy, field, value)
    session.flush()
    audit.record(
        session, actor, "points.policy", "points_policy", policy.id, before=before, after=changes
    )
    return policy


def save_rule(
    session: Session, actor: Actor, values: dict[str, Any], rule_id: int | None = None
) -> PointsRule:
    if rule_id is None:
        rule = PointsRule(**values)
        session.add(rule)
    else:
        rule = get_rule(session, rule_id)
        for field, value in values.items():
            setattr(rule, field, value)
    session.flush()
    audit.record(
        session,
        actor,
        "points.rule_" + ("create" if rule_id is None else "update"),
        "points_rule",
        rule.id,
        after=_jsonable(values),
    )
    return rule


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def get_rule(session: Session, rule_id: int) -> PointsRule:
    rule = session.get(PointsRule, rule_id)
    if rule is None:
        raise RuleNotFound(f"no points rule {rule_id}")
    return rule


def delete_rule(session: Session, actor: Actor, rule_id: int) -> None:
    """A rule that never awarded anything goes; one that did stays, for the ledger's sake (its
    earn entries name it), and is switched off instead."""
    rule = get_rule(session, rule_id)
    # Every firing leaves an award row (they count toward daily caps), so this is the record.
    fired = session.scalar(select(func.count()).where(RuleAward.rule_id == rule_id)) or 0
    if fired:
        raise RuleInUse(f"rule {rule_id} has awarded points; set active to false instead")
    before = {"name": rule.name, "effect": rule.effect, "amount": rule.amount}
    session.delete(rule)
    session.flush()
    audit.record(session, actor, "points.rule_delete", "points_rule", rule_id, before=before)


def list_rules(session: Session) -> list[PointsRule]:
    return list(
        session.scalars(select(PointsRule).order_by(PointsRule.priority.desc(), PointsRule.id))
    )


@dataclass(frozen=True)
class Liability:
    points: int
    cash_value_fen: int
    by_expiry_month: dict[str, int]
    by_store: dict[int | None, int]


def liability(session: Session) -> Liability:
    """Outstanding points (spendable and pending, not yet expired) and what they are worth."""
    now, policy = clock.now(), get_policy(session)
    rows = session.execute(
        select(PointsLot.expires_at, PointsLot.store_id, func.sum(PointsLot.remaining))
        .where(
            PointsLot.remaining > 0,
            PointsLot.status.in_([LotStatus.available.value, LotStatus.pending.value]),
            or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
        )
        .group_by(PointsLot.expires_at, PointsLot.store_id)
    )
    by_month: dict[str, int] = defaultdict(int)
    by_store: dict[int | None, int] = defaultdict(int)
    for expires_at, store_id, points in rows:
        month = (
            expires_at.astimezone(clock.business_tz()).strftime("%Y-%m") if expires_at else "never"
        )
        by_month[month] += int(points)
        by_store[store_id] += int(points)
    total = sum(by_store.values())
    return Liability(
        total,
        total * 100 // policy.points_per_yuan_value,
        dict(sorted(by_month.items())),
        dict(by_store),
    )


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
