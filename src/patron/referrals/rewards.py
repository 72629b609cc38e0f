"""Rewarding referrals, and taking rewards back: the `referrals.reward` job, every minute.

Nothing runs on the order path: the job finds the pending referrals whose invitee has a paid
order (one set-based query through the orders' query functions), holds the members, then
claims each referral with a conditional update (`pending` -> `rewarded`) before giving
anything, so two runs at once reward a referral once (on PostgreSQL the second run also waits
on the row locks the first holds, then finds the rows no longer pending).

A referral whose first paid order shares a payment reference with the referrer's orders is
rejected (`same_payment`); past the referrer's monthly cap (rewards given this calendar month
in the business time zone, reversed ones included) it is rejected (`monthly_cap`). Both sides
get the program's points (`grant_points`, source `referral:<id>`) and coupon (source
`referral`). When that order is refunded in full within `reversal_days` of it, the rewards are
taken back (points while still unspent in their lots, coupons while unused) and the referral
is `reversed` (reason `points_kept` when some points had been spent)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor, Role
from patron.core.errors import PatronError
from patron.coupons import issuing, reclaiming
from patron.coupons.models import IssueSource
from patron.members import merge as member_merge
from patron.members import registry
from patron.members.models import MemberStatus
from patron.orders import queries as orders
from patron.orders.models import OrderStatus
from patron.points import grants
from patron.referrals.models import Referral, ReferralProgram, ReferralStatus
from patron.referrals.service import Rejection, get_program

BATCH = 500
MAX_BATCHES = 100  # a run's most; the next minute's run goes on
JOB = Actor(kind="system", id=None, name="job:referrals", role=Role.hq_admin, store_ids=None)
REWARD_REASON = "referral reward"
REVERSAL_REASON = "referral reversed: first order refunded"


@dataclass(frozen=True)
class RunReport:
    rewarded: int = 0
    rejected: int = 0
    reversed: int = 0


def source_ref(referral_id: int) -> str:
    return f"referral:{referral_id}"


def run(session: Session, now: datetime) -> RunReport:
    program = get_program(session)
    reversed_ = reverse(session, program, now)
    if not program.enabled:
        return RunReport(reversed=reversed_)
    rewarded = rejected = 0
    for _ in range(MAX_BATCHES):
        done, refused, seen = reward(session, program, now)
        rewarded, rejected = rewarded + done, rejected + refused
        if seen < BATCH or not done + refused:
            break
    return RunReport(rewarded, rejected, reversed_)


def month_start(now: datetime) -> datetime:
    local = now.astimezone(clock.business_tz())
    return datetime.combine(local.date().replace(day=1), time(0), clock.business_tz())


def reward(session: Session, program: ReferralProgram, now: datetime) -> tuple[int, int, int]:
    """One batch of pending referrals whose invitee has a paid order: (rewarded, rejected,
    looked at)."""
    first = orders.first_paid_order(Referral.invitee_id)
    candidates = session.execute(
        select(
            Referral.id,
            Referral.referrer_id,
            Referral.invitee_id,
            first.label("order_id"),
        )
        .where(Referral.status == ReferralStatus.pending.value, first.is_not(None))
        .order_by(Referral.id)
        .limit(BATCH)
    ).all()
    if not candidates:
        return 0, 0, 0
    member_ids = {c.referrer_id for c in candidates} | {c.invitee_id for c in candidates}
    member_merge.hold(session, member_ids)
    locked = {
        r.id: r
        for r in session.scalars(
            select(Referral)
            .where(
                Referral.id.in_([c.id for c in candidates]),
                Referral.status == ReferralStatus.pending.value,
            )
            .order_by(Referral.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    order_ids = [c.order_id for c in candidates]
    states = {row.id: row for row in session.execute(orders.order_states(order_ids))}
    # One small EXISTS per candidate (their order and referrer given as values): read
    # through the payments' order index, whatever the number of orders.
    shared = {
        c.id
        for c in candidates
        if c.id in locked
        and session.scalar(select(orders.shares_payment_reference(c.order_id, c.referrer_id)))
    }
    standing = registry.standings(session, member_ids)
    since = month_start(now)
    given = Counter(
        dict(
            session.execute(
                select(Referral.referrer_id, func.count())
                .where(
                    Referral.referrer_id.in_({c.referrer_id for c in candidates}),
                    Referral.rewarded_at >= since,
                )
                .group_by(Referral.referrer_id)
            ).all()
        )
    )
    rewarded = rejected = 0
    for candidate in candidates:
        referral = locked.get(candidate.id)
        if referral is None or referral.invitee_id != candidate.invitee_id:
            continue  # another run took it, or a merge moved it meanwhile
        state = states[candidate.order_id]
        why = _rejection(referral, state.status, candidate.id in shared, standing)
        if why is None and given[referral.referrer_id] >= program.monthly_cap:
            why = Rejection.monthly_cap
        if why is not None:
            if _claim(session, referral, ReferralStatus.rejected, candidate.order_id, now, why):
                rejected += 1
            continue
        if not _claim(session, referral, ReferralStatus.rewarded, candidate.order_id, now):
            continue
        given[referral.referrer_id] += 1
        _give(session, program, referral)
        rewarded += 1
    session.flush()
    return rewarded, rejected, len(candidates)


def _rejection(
    referral: Referral,
    order_status: str,
    same_payment: bool,
    standing: dict[int, registry.Standing],
) -> str | None:
    if order_status == OrderStatus.refunded.value:
        return Rejection.order_refunded
    if same_payment:
        return Rejection.same_payment
    referrer, invitee = standing.get(referral.referrer_id), standing.get(referral.invitee_id)
    if referrer is None or referrer.status != MemberStatus.active:
        return Rejection.referrer_inactive
    if invitee is None or invitee.status != MemberStatus.active:
        return Rejection.invitee_inactive
    return None


def _claim(
    session: Session,
    referral: Referral,
    status: ReferralStatus,
    order_id: int,
    now: datetime,
    reason: str = "",
) -> bool:
    """Move the referral out of `pending`, only if it still is (the other run's guard)."""
    values: dict[str, object] = {"status": status.value, "order_id": order_id, "reason": reason}
    if status is ReferralStatus.rewarded:
        values["rewarded_at"] = now
    claimed = session.execute(
        update(Referral)
        .where(Referral.id == referral.id, Referral.status == ReferralStatus.pending.value)
        .values(**values)
        .execution_options(synchronize_session=False, preserve_rowcount=True)
    )
    session.refresh(referral)
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def _give(session: Session, program: ReferralProgram, referral: Referral) -> None:
    ref = source_ref(referral.id)
    outcome: dict[str, object] = {}
    for side, member_id, points, template_id in (
        (
            "referrer",
            referral.referrer_id,
            program.referrer_points,
            program.referrer_coupon_template_id,
        ),
        (
            "invitee",
            referral.invitee_id,
            program.invitee_points,
            program.invitee_coupon_template_id,
        ),
    ):
        if points > 0:
            try:
                with session.begin_nested():
                    grants.grant_points(
                        session,
                        JOB,
                        member_id,
                        points,
                        reason=REWARD_REASON,
                        store_id=None,
                        source_ref=ref,
                    )
                outcome[f"{side}_points"] = points
            except PatronError as error:  # a balance at its limit: the coupon may still go
                outcome[f"{side}_points_refused"] = error.detail
        if template_id is not None:
            try:
                with session.begin_nested():
                    result = issuing.issue_coupons(
                        session,
                        JOB,
                        template_id,
                        [member_id],
                        source=IssueSource.referral,
                        source_ref=ref,
                    )
                outcome[f"{side}_coupons"] = [c.id for c in result.issued]
                if result.refused:
                    outcome[f"{side}_coupon_refused"] = result.refused[0].code.value
            except PatronError as error:  # the template paused or over
                outcome[f"{side}_coupon_refused"] = error.code
    audit.record(session, JOB, "referrals.reward", "referral", referral.id, after=outcome)


# Reversal


def reverse(session: Session, program: ReferralProgram, now: datetime) -> int:
    """Take back the rewards of referrals whose first paid order was refunded in full within
    `reversal_days` of it."""
    rewarded_orders = select(Referral.order_id).where(
        Referral.status == ReferralStatus.rewarded.value, Referral.order_id.is_not(None)
    )
    window = timedelta(days=program.reversal_days)
    due = [
        row.id
        for row in session.execute(orders.refunded_in_full(rewarded_orders))
        if row.refunded_at is not None and row.refunded_at - row.occurred_at <= window
    ]
    if not due:
        return 0
    candidates = session.execute(
        select(Referral.id, Referral.referrer_id, Referral.invitee_id).where(
            Referral.order_id.in_(due), Referral.status == ReferralStatus.rewarded.value
        )
    ).all()
    member_merge.hold(
        session, {c.referrer_id for c in candidates} | {c.invitee_id for c in candidates}
    )
    locked = session.scalars(
        select(Referral)
        .where(
            Referral.id.in_([c.id for c in candidates]),
            Referral.status == ReferralStatus.rewarded.value,
        )
        .order_by(Referral.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    count = 0
    for referral in locked:
        claimed = session.execute(
            update(Referral)
            .where(Referral.id == referral.id, Referral.status == ReferralStatus.rewarded.value)
            .values(status=ReferralStatus.reversed.value, reversed_at=now)
            .execution_options(synchronize_session=False, preserve_rowcount=True)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue
        kept = _take_back(session, referral)
        if kept:
            referral.reason = "points_kept"
        session.flush()
        session.refresh(referral)
        count += 1
    return count


def _take_back(session: Session, referral: Referral) -> list[int]:
    """Take both sides' rewards back; the members whose points had been spent (kept)."""
    ref = source_ref(referral.id)
    kept = []
    for member_id in (referral.referrer_id, referral.invitee_id):
        coupons = reclaiming.issued_under(session, member_id, IssueSource.referral, ref)
        reclaiming.void_all(session, JOB, coupons.available, REVERSAL_REASON)
        if not grants.take_back(
            session, JOB, member_id, ref, reason=REVERSAL_REASON, store_id=None
        ):
            kept.append(member_id)
    audit.record(
        session, JOB, "referrals.reverse", "referral", referral.id, after={"points_kept_by": kept}
    )
    return kept
