"""Tiers in other domains' work: orders earn growth and may upgrade the member, refunds take
growth back (never the tier), registration and a completed profile earn action growth once, a
merge moves the growth ledger and the paid terms to the survivor and re-evaluates it upward,
erasure keeps the ledger, and the PIPL export lists the tier, its history and the growth entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.core import clock, events
from patron.core.actor import Actor
from patron.members import merge as member_merge
from patron.members import privacy, registration
from patron.members.models import Gender, Member
from patron.orders.events import ORDER_COMPLETED, ORDER_REFUNDED, OrderCompleted, OrderRefunded
from patron.tiers import growth, paid, standing
from patron.tiers.ladder import base, ladder
from patron.tiers.models import ChangeReason, GrowthEntry, GrowthKind, TierChange
from patron.tiers.program import program


@ORDER_COMPLETED.subscribers.register("tiers.growth")
def _grow_on_order(session: Session, event: events.Event[OrderCompleted]) -> None:
    """With tiers off (no ladder), nothing: not a statement more on the order path."""
    order = event.payload
    if order.member_id is None:
        return
    home = base(ladder(session))
    if home is None:
        return
    earned = growth.order_growth(order, order.member_id, program(session))
    if earned <= 0:
        return
    now = clock.now()
    row = growth.entry(
        order.member_id,
        GrowthKind.order,
        earned,
        "order",
        order.occurred_at,
        store_id=order.store_id,
        order_id=order.order_id,
    )
    held = growth.credit(session, row, home.id, now)
    # An order stamped a little ahead of our clock counts in its own window.
    standing.evaluate_upgrade(
        session,
        order.member_id,
        now=max(now, order.occurred_at),
        store_id=order.store_id,
        known=held,
    )


@ORDER_REFUNDED.subscribers.register("tiers.growth")
def _reverse_on_refund(session: Session, event: events.Event[OrderRefunded]) -> None:
    """After refunds totalling R of an order that paid P, floor(G × R / P) of its growth G is
    taken back, at the order's time; the tier stays until its review."""
    refund = event.payload
    if refund.member_id is None or refund.order_total <= 0:
        return
    home = base(ladder(session))
    if home is None:
        return
    order = growth.of_order(session, refund.order_id)
    due = order.earned * refund.refunded_total // refund.order_total - order.reversed
    if due <= 0 or order.occurred_at is None:
        return
    row = growth.entry(
        refund.member_id,
        GrowthKind.refund,
        -due,
        refund.operator,
        order.occurred_at,
        store_id=refund.store_id,
        order_id=refund.order_id,
        refund_id=refund.refund_id,
        reason="order refunded",
    )
    growth.credit(session, row, home.id, clock.now())


def award_action(
    session: Session, member: Member, action: str, operator: str, *, once: bool = True
) -> int:
    """Growth for an action (registration, profile_completed, check_in) as the program gives it
    (0: nothing): once per member, or each time with `once=False` (a daily check-in). Returns
    the growth given."""
    home = base(ladder(session))
    if home is None:
        return 0
    given = program(session).for_action(action)
    if given <= 0 or (once and growth.has_action(session, member.id, action)):
        return 0
    now = clock.now()
    row = growth.entry(
        member.id, GrowthKind.action, given, operator, now, store_id=member.store_id, action=action
    )
    held = growth.credit(session, row, home.id, now)
    standing.evaluate_upgrade(session, member.id, now=now, known=held, store_id=member.store_id)
    return given


def profile_completed(member: Member) -> bool:
    return bool(member.name and member.birthday and member.gender != Gender.unknown)


@registration.on_registered.register("tiers.action_growth")
def _on_registered(session: Session, actor: Actor, member: Member) -> None:
    award_action(session, member, "registration", actor.name)
    if profile_completed(member):
        award_action(session, member, "profile_completed", actor.name)


@registration.on_updated.register("tiers.action_growth")
def _on_updated(session: Session, actor: Actor, member: Member) -> None:
    if profile_completed(member):
        award_action(session, member, "profile_completed", actor.name)


@member_merge.on_merge.register("tiers")
def _merge_growth(session: Session, source: Member, target: Member) -> None:
    """The source's entries and paid terms move whole, with their times (windows stay right);
    the survivor's cached growth is summed again, its held tier re-evaluated upward only, and
    its paid tier set again from the terms it holds now (the higher of both members')."""
    paid.move_terms(session, source.id, target.id)
    if base(ladder(session)) is None:
        return
    rows = standing.lock(session, [source.id, target.id])
    session.execute(
        update(GrowthEntry)
        .where(GrowthEntry.member_id == source.id)
        .values(member_id=target.id)
        .execution_options(synchronize_session=False)
    )
    rows[source.id].growth = 0
    rows[source.id].paid_tier_id = rows[source.id].paid_until = None
    rows[target.id].growth = growth.lifetime_sum(session, target.id)
    session.flush()
    standing.evaluate_upgrade(session, target.id, reason=ChangeReason.merge, operator="merge")
    paid.grant(session, target.id, clock.now(), ChangeReason.merge, "merge")


@privacy.export_sections.register("tiers")
def _export(session: Session, member: Member) -> dict[str, Any]:
    found = standing.standings(session, [member.id]).get(member.id)
    changes = session.scalars(
        select(TierChange).where(TierChange.member_id == member.id).order_by(TierChange.id)
    )
    entries = session.scalars(
        select(GrowthEntry).where(GrowthEntry.member_id == member.id).order_by(GrowthEntry.id)
    )
    return {
        "tier": found.tier.code if found else None,
        "since": _iso(found.since) if found else None,
        "lifetime_growth": found.lifetime_growth if found else 0,
        "history": [
            {
                "from_tier_id": c.from_tier_id,
                "to_tier_id": c.to_tier_id,
                "reason": c.reason,
                "created_at": c.created_at.isoformat(),
            }
            for c in changes
        ],
        "growth_entries": [
            {
                "kind": e.kind,
                "growth": e.growth,
                "order_id": e.order_id,
                "action": e.action,
                "occurred_at": e.occurred_at.isoformat(),
            }
            for e in entries
        ],
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
