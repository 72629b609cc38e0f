"""Adjustments check the points permissions themselves: a CLI command or a job acting with the wrong
role can neither ask for one nor decide one."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden
from patron.points import adjustments, policy, queries
from patron.points.models import AdjustmentStatus
from tests.factories import make_member, make_store


def _job(role: Role) -> Actor:
    return Actor(kind="system", id=None, name=f"{role} job", role=role, store_ids=None)


def test_only_the_approving_roles_decide_an_adjustment(session: Session) -> None:
    member = make_member(session, make_store(session))
    large = policy.get_policy(session).approval_threshold
    adjustment = adjustments.request_adjustment(session, SYSTEM, member.id, large, "开卡补录")
    for role in (Role.hq_marketing, Role.store_manager, Role.cashier):
        with pytest.raises(Forbidden):
            adjustments.decide_adjustment(session, _job(role), adjustment.id, approve=True)
    assert adjustment.status == AdjustmentStatus.pending
    adjustments.decide_adjustment(session, _job(Role.hq_finance), adjustment.id, approve=False)
    assert adjustment.status == AdjustmentStatus.rejected


def test_a_cashier_cannot_ask_for_an_adjustment(session: Session) -> None:
    member = make_member(session, make_store(session))
    with pytest.raises(Forbidden):
        adjustments.request_adjustment(session, _job(Role.cashier), member.id, 5, "补偿")
    assert queries.balance(session, member.id).available == 0
