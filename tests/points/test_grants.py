"""Points given rather than earned: available at once, expiring by the policy, paying a debt
first, refused past the balance limit, taken back whole only while untouched."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.errors import InvalidInput
from patron.members import merge as member_merge
from patron.points import adjustments, grants, policy, queries
from patron.points.accounts import MAX_BALANCE, lock_accounts
from patron.points.models import PointsAccount, PointsEntry, PointsLot
from tests.factories import make_member, make_store

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)


def give(session: Session, member_id: int, points: int, ref: str = "campaign:1") -> PointsEntry:
    return grants.grant_points(
        session, SYSTEM, member_id, points, reason="spring gift", store_id=None, source_ref=ref
    )


def available(session: Session, member_id: int) -> int:
    session.expire_all()
    account = session.get(PointsAccount, member_id)
    return account.available if account else 0


def test_a_grant_is_available_at_once_and_expires_by_the_policy(session: Session) -> None:
    member = make_member(session, make_store(session))
    policy.update_policy(session, SYSTEM, {"expiry_policy": "year_end", "pending_days": 7})
    with clock.frozen(NOW):
        entry = give(session, member.id, 500)
    lot = session.get(PointsLot, entry.lot_id)
    assert lot is not None
    assert (lot.status, lot.remaining) == ("available", 500)
    assert lot.expires_at == policy.end_of_day(date(2027, 12, 31))
    assert (entry.kind, entry.reason) == ("grant", "spring gift [campaign:1]")
    assert available(session, member.id) == 500
    assert queries.verify(session) == []


def test_a_grant_pays_a_debt_first(session: Session) -> None:
    member = make_member(session, make_store(session))
    lock_accounts(session, [member.id])[member.id].debt = 120
    entry = give(session, member.id, 500)
    session.expire_all()
    account = session.get(PointsAccount, member.id)
    assert account is not None
    assert (account.available, account.debt, entry.debt_paid) == (380, 0, 120)
    # Part of it paid the debt: the grant can no longer be taken back whole.
    assert not grants.take_back(
        session, SYSTEM, member.id, "campaign:1", reason="undo", store_id=None
    )


def test_no_grant_passes_the_balance_limit_or_gives_nothing(session: Session) -> None:
    member = make_member(session, make_store(session))
    give(session, member.id, MAX_BALANCE)
    for points in (1, 0):
        with pytest.raises(InvalidInput):
            give(session, member.id, points)
    entries = session.scalar(select(func.count()).where(PointsEntry.member_id == member.id))
    assert entries == 1


def test_a_grant_is_taken_back_whole_while_untouched_and_follows_a_merge(
    session: Session,
) -> None:
    store = make_store(session)
    member, survivor = make_member(session, store), make_member(session, store)
    give(session, member.id, 300, "recharge:7")
    give(session, member.id, 200, "recharge:8")
    member_merge.merge_members(session, SYSTEM, member.id, survivor.id)
    assert grants.take_back(session, SYSTEM, member.id, "recharge:7", reason="undo", store_id=None)
    assert available(session, survivor.id) == 200
    # Taken back once: its lot is empty now.
    assert not grants.take_back(
        session, SYSTEM, member.id, "recharge:7", reason="undo", store_id=None
    )
    adjustments.request_adjustment(session, SYSTEM, survivor.id, -1, "spent one")
    assert not grants.take_back(
        session, SYSTEM, member.id, "recharge:8", reason="undo", store_id=None
    )
    assert available(session, survivor.id) == 199
    assert queries.verify(session) == []
