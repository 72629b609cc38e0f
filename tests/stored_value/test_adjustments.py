"""Manual adjustments of a member's principal and bonus."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden, InvalidInput
from patron.core.settings import Settings
from patron.members import merge as member_merge
from patron.members.errors import MemberNotActive
from patron.stored_value import adjustments, ledger
from patron.stored_value.errors import BalanceCapExceeded, InsufficientBalance
from tests.factories import make_member, make_staff, make_store, staff_headers
from tests.stored_value.test_ledger import balances, entry_count, load


def test_an_adjustment_moves_principal_and_bonus_with_an_entry(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 10000, 1000)
    entry = adjustments.adjust(session, SYSTEM, member.id, store.id, 500, -1000, "correction")
    assert (entry.kind, entry.principal, entry.bonus, entry.store_id, entry.reason) == (
        "adjust",
        500,
        -1000,
        store.id,
        "correction",
    )
    assert balances(session, member.id) == (10500, 0)
    assert ledger.verify(session) == []
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stored_value.adjust")
    ).one()
    assert audit.before == {"principal": 10000, "bonus": 1000}
    assert audit.after is not None
    assert (audit.after["principal"], audit.after["bonus"]) == (10500, 0)


def test_an_adjustment_never_leaves_a_part_below_zero_nor_the_balance_over_the_cap(
    session: Session,
) -> None:
    member = make_member(session)
    load(session, member, None, 490000, 0)
    before = entry_count(session)
    with pytest.raises(InsufficientBalance):
        adjustments.adjust(session, SYSTEM, member.id, None, 0, -1, "x")
    with pytest.raises(InsufficientBalance):
        adjustments.adjust(session, SYSTEM, member.id, None, -490001, 0, "x")
    with pytest.raises(BalanceCapExceeded):
        adjustments.adjust(session, SYSTEM, member.id, None, 5000, 5001, "x")
    assert entry_count(session) == before
    # up to the cap, and a shift from principal to bonus that adds nothing, are fine
    adjustments.adjust(session, SYSTEM, member.id, None, 5000, 5000, "x")
    adjustments.adjust(session, SYSTEM, member.id, None, -100, 100, "x")
    assert balances(session, member.id) == (494900, 5100)


def test_only_hq_finance_and_admins_adjust(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    manager = Actor("staff", 1, "m", Role.store_manager, frozenset({store.id}))
    with pytest.raises(Forbidden):
        adjustments.adjust(session, manager, member.id, store.id, 100, 0, "x")
    with pytest.raises(InvalidInput):
        adjustments.adjust(session, SYSTEM, member.id, None, 0, 0, "x")


def post(client: TestClient, member_id: int, body: dict[str, Any], headers: Any, key: str) -> Any:
    return client.post(
        f"/api/v1/members/{member_id}/stored-value/adjustments",
        json=body,
        headers={**headers, "Idempotency-Key": key},
    )


def test_adjustments_over_http(client: TestClient, session: Session, settings: Settings) -> None:
    store = make_store(session)
    member = make_member(session, store)
    load(session, member, store, 1000)
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    body = {"store_id": store.id, "principal": -300, "bonus": 50, "reason": "till miscount"}
    first = post(client, member.id, body, finance, "adj-1")
    assert first.status_code == 201, first.text
    assert (first.json()["kind"], first.json()["principal"], first.json()["bonus"]) == (
        "adjust",
        -300,
        50,
    )
    replay = post(client, member.id, body, finance, "adj-1")
    assert replay.json()["id"] == first.json()["id"]
    assert balances(session, member.id) == (700, 50)
    short = post(client, member.id, {**body, "principal": -701}, finance, "adj-2")
    assert (short.status_code, short.json()["code"]) == (409, "insufficient_balance")
    over = post(client, member.id, {**body, "principal": 500000}, finance, "adj-3")
    assert (over.status_code, over.json()["code"]) == (409, "balance_cap_exceeded")
    zero = post(client, member.id, {**body, "principal": 0, "bonus": 0}, finance, "adj-4")
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["code"] == "zero_adjustment"
    for missing in ({"principal": 1}, {"principal": 1, "reason": ""}):
        assert post(client, member.id, missing, finance, "adj-5").status_code == 422
    assert post(client, member.id, body, finance, " ").status_code == 422  # no key
    for role in (Role.store_manager, Role.cashier, Role.hq_marketing):
        headers = staff_headers(make_staff(session, role, [store]), settings)
        assert post(client, member.id, body, headers, f"r-{role}").status_code == 403
    assert balances(session, member.id) == (700, 50)


def test_a_merged_member_is_not_adjusted(session: Session) -> None:
    source, target = make_member(session), make_member(session)
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    with pytest.raises(MemberNotActive):
        adjustments.adjust(session, SYSTEM, source.id, None, 100, 0, "x")
