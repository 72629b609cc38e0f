"""What journeys cost the order path: nothing without a running order-triggered journey or goal
(which journeys run is cached per process), one statement per such journey otherwise."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.journeys import service
from tests.factories import make_member
from tests.journeys.helpers import entries, make_journey
from tests.orders.test_statement_budget import Statements, five_lines, post, statements, till

__all__ = ["statements", "till"]
EXIT = [{"key": "x", "type": "exit"}]


def _count(client: TestClient, till: dict[str, Any], counter: Statements, key: str) -> int:
    assert (
        post(client, till, five_lines(till, "WARM" + key, member=True), "w" + key).status_code
        == 201
    )
    counter.seen.clear()
    assert post(client, till, five_lines(till, key, member=True), key).status_code == 201
    return len(counter.seen)


def test_an_order_pays_for_running_order_journeys_only(
    client: TestClient, session: Session, till: dict[str, Any], statements: Statements
) -> None:
    baseline = _count(client, till, statements, "B")
    make_journey(session, {"event": "order.completed"}, EXIT, name="草稿", active=False)
    registered = make_journey(session, {"event": "member.registered"}, EXIT, name="注册")
    assert _count(client, till, statements, "D") == baseline
    ordered = make_journey(session, {"event": "order.completed"}, EXIT, name="下单")
    assert _count(client, till, statements, "O") == baseline + 1
    assert len(entries(session, ordered)) == 1  # entry limit: once
    service.move(session, SYSTEM, ordered.id, "archive")
    make_journey(
        session,
        {"event": "member.registered"},
        EXIT,
        name="有目标",
        goal={"type": "purchase", "days": 7},
    )
    assert _count(client, till, statements, "G") == baseline + 1  # the goal's update
    assert entries(session, registered) == []


def test_a_registration_pays_for_running_registration_journeys_only(
    session: Session, statements: Statements
) -> None:
    def counted() -> int:
        make_member(session)  # warm: the running journeys read once
        statements.seen.clear()
        make_member(session)
        return len(statements.seen)

    baseline = counted()
    make_journey(session, {"event": "order.completed"}, EXIT, name="下单")
    assert counted() == baseline
    make_journey(session, {"event": "member.registered"}, EXIT, name="注册")
    assert counted() == baseline + 1
