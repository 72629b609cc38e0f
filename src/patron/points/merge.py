"""Points of merged members: lots, debts and tallies move to the survivor."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.core import clock
from patron.members import merge as member_merge
from patron.members.models import Member
from patron.points import events as points_events
from patron.points import settling
from patron.points.accounts import add_entry, lock_accounts, pay_debt, settle_due
from patron.points.models import (
    AdjustmentStatus,
    EntryKind,
    ExpiryNotice,
    LotStatus,
    PointsAdjustment,
    PointsLot,
    RuleAward,
)

MemberTally = TypeVar("MemberTally", RuleAward, ExpiryNotice)


def merge(session: Session, source_id: int, target_id: int) -> None:
    """Live lots move with their expiry dates, the debt moves, and the ledger says so on both
    sides."""
    accounts = lock_accounts(session, [source_id, target_id])
    source, target = accounts[source_id], accounts[target_id]
    now = clock.now()
    settle_due(session, source, now)
    settle_due(session, target, now)
    balance = source.available + source.pending - source.debt
    # Live lots move; expired and cancelled ones, empty, stay with the source's ledger.
    session.execute(
        update(PointsLot)
        .where(
            PointsLot.member_id == source_id,
            settling.status_is(LotStatus.available, LotStatus.pending),
        )
        .values(member_id=target_id)
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
        out = add_entry(
            session,
            source_id,
            EntryKind.merge_out,
            -balance,
            "system",
            reason=f"merged into member {target_id}",
            merge_partner_id=target_id,
        )
        into = add_entry(
            session,
            target_id,
            EntryKind.merge_in,
            balance,
            "system",
            reason=f"merged from member {source_id}",
            merge_partner_id=source_id,
        )
        points_events.changed(session, out, source)
        points_events.changed(session, into, target)
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


@member_merge.on_merge.register("points")
def _merge_points(session: Session, source: Member, target: Member) -> None:
    merge(session, source.id, target.id)
