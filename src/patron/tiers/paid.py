"""Paid membership (付费会员): plans of a term at a price granting a tier or a benefit set of
their own, terms recorded from external payment notices, each term's monthly coupons, and the
lapse of ended terms.

A member's live paid tier is kept on their tier row (`paid_tier_id` until `paid_until`): the
highest tier among their terms running now, until the end of the last term of that tier (a
renewal of a plan starts where the member's running term of it ends, so its terms are one
stretch). While paid, the member's tier is the higher of the paid and the held tier; when the
stretch ends, the lapse job clears it and the member is back on the tier their growth holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.permissions import Permission
from patron.core.reasons import Reason
from patron.coupons.errors import TemplateExpired, TemplateNotActive, TemplateNotFound
from patron.coupons.issuing import issue_coupons
from patron.coupons.models import IssueSource
from patron.coupons.templates import get_template
from patron.members import merge as member_merge
from patron.points.policy import add_months
from patron.tiers import standing
from patron.tiers.ladder import by_id, ladder
from patron.tiers.models import (
    ChangeReason,
    MemberTier,
    PaidMembership,
    PaidMembershipStatus,
    PaidPlan,
    PlanTerm,
)

EDIT_PLANS = Permission("tiers.edit_paid_plans", {Role.hq_admin, Role.hq_marketing})
# the payment system's notice (an integration) or HQ recording one by hand
RECORD_PAYMENT = Permission("tiers.record_paid_membership", {Role.hq_admin, Role.integration})
TERM_MONTHS = {PlanTerm.month: 1, PlanTerm.quarter: 3, PlanTerm.year: 12}
PLAN_FIELDS = ("name", "name_en", "term", "price", "tier_id", "benefits", "auto_renew", "active")
ACTIVE = PaidMembershipStatus.active.value
MEMBERSHIPS = cast(Table, PaidMembership.__table__)


class PaidPlanNotFound(NotFound):
    code = "paid_plan_not_found"
    title = "Paid plan not found"


class PaidPlanNotActive(Conflict):
    code = "paid_plan_not_active"
    title = "The paid plan is not active: it takes no new terms"


# --- plans -----------------------------------------------------------------------------------


def list_plans(session: Session) -> list[PaidPlan]:
    return list(session.scalars(select(PaidPlan).order_by(PaidPlan.id)))


def get_plan(session: Session, plan_id: int) -> PaidPlan:
    plan = session.get(PaidPlan, plan_id)
    if plan is None:
        raise PaidPlanNotFound(f"no paid plan {plan_id}")
    return plan


def save_plan(
    session: Session, actor: Actor, values: dict[str, Any], plan_id: int | None = None
) -> PaidPlan:
    """Create a plan, or change the given fields of one (a change applies to terms paid after
    it: a term keeps the price it was paid at)."""
    EDIT_PLANS.check(actor)
    for name in set(values) - {"tier_id"}:
        if values[name] is None:
            raise InvalidInput(name, "cannot be null", code=Reason.missing)
    plan = PaidPlan(name_en="", benefits={}, auto_renew=False, active=True)
    before = None
    if plan_id is not None:
        plan = get_plan(session, plan_id)
        before = _snapshot(plan)
    merged = (_snapshot(plan) if before else {"tier_id": None, "benefits": {}}) | values
    _check(session, merged)
    for name, value in values.items():
        setattr(plan, name, value)
    session.add(plan)
    session.flush()
    action = "tiers.paid_plan_create" if before is None else "tiers.paid_plan_update"
    audit.record(session, actor, action, "paid_plan", plan.id, before=before, after=_snapshot(plan))
    return plan


def _snapshot(plan: PaidPlan) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in PLAN_FIELDS}


def _check(session: Session, plan: dict[str, Any]) -> None:
    tier_id, benefits = plan.get("tier_id"), plan.get("benefits") or {}
    if tier_id is not None:
        tier = by_id(ladder(session), tier_id)
        if tier is None or tier.rank == 0:
            raise InvalidInput(
                "tier_id", f"no tier {tier_id} above the base tier", code=Reason.unknown_tier
            )
    _check_range("benefits.discount_percent", benefits.get("discount_percent") or 0, 0, 99)
    for index, coupon in enumerate(benefits.get("monthly_coupons") or []):
        _check_range(f"benefits.monthly_coupons.{index}.count", coupon.get("count", 1), 1, 10)
        try:
            get_template(session, coupon["template_id"])
        except TemplateNotFound as exc:
            raise InvalidInput(
                f"benefits.monthly_coupons.{index}.template_id",
                f"no coupon template {coupon['template_id']}",
                code=Reason.unknown_template,
            ) from exc
    if (
        tier_id is None
        and not benefits.get("discount_percent")
        and not benefits.get("monthly_coupons")
    ):
        raise InvalidInput(
            "tier_id",
            "a plan grants a tier or benefits of its own",
            code=Reason.plan_grants_nothing,
        )


def _check_range(field: str, value: int, least: int, most: int) -> None:
    if not least <= value <= most:
        raise InvalidInput(field, f"must be {least} to {most}", code=Reason.out_of_range)


# --- terms -----------------------------------------------------------------------------------


def term_end(starts_at: datetime, term: str) -> datetime:
    """Calendar months on in business time (the 31st a month on is the month's last day)."""
    return months_on(starts_at, TERM_MONTHS[PlanTerm(term)])


def months_on(starts_at: datetime, months: int) -> datetime:
    local = starts_at.astimezone(clock.business_tz())
    day = add_months(local.date(), months)
    return local.replace(year=day.year, month=day.month, day=day.day).astimezone(starts_at.tzinfo)


@dataclass(frozen=True)
class Payment:
    plan_id: int
    method: str
    reference: str
    auto_renew: bool | None  # None: the plan's flag


def pay(session: Session, actor: Actor, member_id: int, payment: Payment) -> PaidMembership:
    """A paid term from a payment notice: from now, or from the end of the member's running
    term of the same plan (a renewal extends it). A plan granting a tier higher than the
    member's changes their tier (history `paid`)."""
    RECORD_PAYMENT.check(actor)
    plan = get_plan(session, payment.plan_id)
    if not plan.active:
        raise PaidPlanNotActive(f"paid plan {plan.id} is not active")
    member_merge.hold(session, [member_id], active=True)
    now = clock.now()
    running_end = session.scalar(
        select(func.max(PaidMembership.ends_at)).where(
            PaidMembership.member_id == member_id,
            PaidMembership.plan_id == plan.id,
            PaidMembership.status == ACTIVE,
            PaidMembership.ends_at > now,
        )
    )
    starts_at = running_end or now
    term = PaidMembership(
        member_id=member_id,
        plan_id=plan.id,
        starts_at=starts_at,
        ends_at=term_end(starts_at, plan.term),
        price=plan.price,
        auto_renew=plan.auto_renew if payment.auto_renew is None else payment.auto_renew,
        payment_method=payment.method,
        payment_reference=payment.reference,
        status=ACTIVE,
        operator=actor.name,
        created_at=now,
    )
    session.add(term)
    session.flush()
    if plan.tier_id is not None:
        grant(session, member_id, now, ChangeReason.paid, actor.name)
    audit.record(
        session,
        actor,
        "tiers.paid_membership",
        "member",
        member_id,
        after={
            "plan_id": plan.id,
            "starts_at": term.starts_at.isoformat(),
            "ends_at": term.ends_at.isoformat(),
            "price": term.price,
            "payment_reference": term.payment_reference,
        },
    )
    return term


def grant(
    session: Session, member_id: int, now: datetime, reason: ChangeReason, operator: str
) -> None:
    """The member's paid tier set again from their terms running now; a history entry
    `reason` when their tier goes up with it (tiers must be on)."""
    row = standing.lock(session, [member_id])[member_id]
    before = standing.standings(session, [member_id])[member_id].tier
    row.paid_tier_id, row.paid_until = live_paid_tier(session, member_id, now)
    session.flush()
    after = standing.standings(session, [member_id])[member_id].tier
    if after.rank > before.rank:
        standing.record_change(session, standing.Change(member_id, before, after, reason, operator))


def live_paid_tier(
    session: Session, member_id: int, now: datetime
) -> tuple[int | None, datetime | None]:
    """The highest tier of the member's terms running now, and the end of that tier's terms."""
    rungs = ladder(session)
    rows = session.execute(
        select(PaidPlan.tier_id, PaidMembership.starts_at, PaidMembership.ends_at)
        .join(PaidPlan, PaidPlan.id == PaidMembership.plan_id)
        .where(
            PaidMembership.member_id == member_id,
            PaidMembership.status == ACTIVE,
            PaidMembership.ends_at > now,
            PaidPlan.tier_id.is_not(None),
        )
    ).all()
    running = [by_id(rungs, tier_id) for tier_id, starts, _ in rows if starts <= now]
    held = [r for r in running if r is not None]
    if not held:
        return None, None
    best = max(held, key=lambda r: r.rank)
    return best.id, max(ends for tier_id, _, ends in rows if tier_id == best.id)


def move_terms(session: Session, source_id: int, target_id: int) -> int:
    """A merge: the merged member's terms, running or not, become the survivor's."""
    moved = session.execute(
        update(PaidMembership)
        .where(PaidMembership.member_id == source_id)
        .values(member_id=target_id)
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]


def memberships_of(session: Session, member_id: int) -> list[PaidMembership]:
    return list(
        session.scalars(
            select(PaidMembership)
            .where(PaidMembership.member_id == member_id)
            .order_by(PaidMembership.starts_at.desc(), PaidMembership.id.desc())
        )
    )


# --- the monthly coupons job --------------------------------------------------------------------


@dataclass(frozen=True)
class CouponReport:
    terms: int  # terms that had months to issue
    months: int  # term months issued
    coupons: int


def issue_monthly_coupons(session: Session, now: datetime) -> CouponReport:
    """Each active term's monthly coupons (its plan's benefit set as it is now) for every month
    of the term begun by `now` and not yet issued (`coupon_months` counts them), through the
    coupon service, source_ref `paid:<term id>:<month index>`. A coupon that cannot go out
    (template paused or over, stock or limits) is left out, as tier gifts are: its month counts
    as issued. Running it again for the same `now` issues nothing more."""
    wanted = {
        plan.id: plan.benefits["monthly_coupons"]
        for plan in list_plans(session)
        if plan.benefits.get("monthly_coupons")
    }
    due = session.scalars(
        select(PaidMembership)
        .where(
            PaidMembership.plan_id.in_(sorted(wanted)),
            PaidMembership.status == ACTIVE,
            PaidMembership.starts_at <= now,
        )
        .order_by(PaidMembership.id)
        .with_for_update()
    ).all()
    terms = months = coupons = 0
    for term in due:
        begun = _months_begun(term, now)
        if begun <= term.coupon_months:
            continue
        terms += 1
        for index in range(term.coupon_months, begun):
            coupons += _issue_month(session, term, wanted[term.plan_id], index)
        months += begun - term.coupon_months
        term.coupon_months = begun
    session.flush()
    return CouponReport(terms, months, coupons)


def _months_begun(term: PaidMembership, now: datetime) -> int:
    """How many of the term's months (calendar months on from its start, business time, up to
    its end) have begun by `now`."""
    starts = (months_on(term.starts_at, k) for k in range(max(TERM_MONTHS.values())))
    return sum(1 for start in starts if start <= now and start < term.ends_at)


def _issue_month(
    session: Session, term: PaidMembership, wanted: list[dict[str, Any]], index: int
) -> int:
    issued = 0
    for coupon in wanted:
        try:
            result = issue_coupons(
                session,
                SYSTEM,
                coupon["template_id"],
                [term.member_id] * int(coupon.get("count", 1)),
                source=IssueSource.tier_benefit,
                source_ref=f"paid:{term.id}:{index}",
            )
        except (TemplateNotFound, TemplateNotActive, TemplateExpired):
            continue
        issued += len(result.issued)
    return issued


# --- the lapse job ---------------------------------------------------------------------------

LAPSING = Table(
    "tier_paid_lapsing",
    MetaData(),
    Column("member_id", Integer, primary_key=True),
    Column("paid_tier_id", Integer),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class LapseReport:
    terms: int  # terms ended
    members: int  # members whose paid tier ended
    changes: int  # of them, whose tier went down


def lapse(session: Session, now: datetime) -> LapseReport:
    """Terms ended by `now` lapse; members whose paid tier ended lose it (set-based), and those
    whose tier goes down with it get a history entry `paid_lapsed` and the event."""
    ended = session.execute(
        update(PaidMembership)
        .where(PaidMembership.status == ACTIVE, PaidMembership.ends_at <= now)
        .values(status=PaidMembershipStatus.lapsed.value, lapsed_at=now)
        .execution_options(synchronize_session=False)
    )
    terms = int(ended.rowcount or 0)  # type: ignore[attr-defined]
    due = select(MemberTier.member_id).where(MemberTier.paid_until <= now)
    member_merge.hold(session, due)
    connection = session.connection()
    LAPSING.create(connection)
    try:
        session.execute(
            insert(LAPSING).from_select(
                ["member_id", "paid_tier_id"],
                select(MemberTier.member_id, MemberTier.paid_tier_id)
                .where(MemberTier.paid_until <= now)
                .order_by(MemberTier.member_id)
                .with_for_update(),
            )
        )
        lapsing = session.execute(select(LAPSING.c.member_id, LAPSING.c.paid_tier_id)).all()
        session.execute(
            update(MemberTier)
            .where(MemberTier.member_id.in_(select(LAPSING.c.member_id)))
            .values(paid_tier_id=None, paid_until=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    finally:
        LAPSING.drop(connection)
    session.expire_all()
    changes = _fall_back(session, lapsing, now)
    return LapseReport(terms, len(lapsing), changes)


def _fall_back(session: Session, lapsing: Sequence[Any], now: datetime) -> int:
    """Members with another tier plan running keep its tier; the history of those whose tier
    went down."""
    if not lapsing:
        return 0
    rungs = ladder(session)
    still_paid = set(
        session.scalars(
            select(PaidMembership.member_id)
            .join(PaidPlan, PaidPlan.id == PaidMembership.plan_id)
            .where(
                PaidMembership.member_id.in_([m for m, _ in lapsing]),
                PaidMembership.status == ACTIVE,
                PaidMembership.starts_at <= now,
                PaidPlan.tier_id.is_not(None),
            )
        )
    )
    for member_id in sorted(still_paid):
        row = session.get(MemberTier, member_id)
        assert row is not None
        row.paid_tier_id, row.paid_until = live_paid_tier(session, member_id, now)
    session.flush()
    now_standing = standing.standings(session, [m for m, _ in lapsing])
    changes = []
    for member_id, paid_tier_id in lapsing:
        before, found = by_id(rungs, paid_tier_id), now_standing.get(member_id)
        if before is not None and found is not None and before.rank > found.tier.rank:
            after = found.tier
            changes.append(
                standing.Change(member_id, before, after, ChangeReason.paid_lapsed, "system")
            )
    standing.record_changes(session, changes)
    return len(changes)
