from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from tests.factories import make_member, make_staff, make_store, staff_headers
from tests.tiers.helpers import make_ladder, order

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(NOW)


def headers(session: Session, settings: Settings, role: Role) -> dict[str, str]:
    return staff_headers(make_staff(session, role), settings)


def test_the_program_is_read_by_staff_and_set_by_admins(
    client: TestClient, session: Session, settings: Settings
) -> None:
    cashier = headers(session, settings, Role.cashier)
    shown = client.get("/api/v1/tier-program", headers=cashier)
    assert shown.status_code == 200, shown.text
    assert shown.json()["metric"] == "rolling_12m"
    assert shown.json()["grace_days"] == 30
    body = {
        "metric": "calendar_year",
        "evaluation": "monthly",
        "growth_per_yuan": 2,
        "action_growth": {"registration": 10},
    }
    assert client.put("/api/v1/tier-program", json=body, headers=cashier).status_code == 403
    marketing = headers(session, settings, Role.hq_marketing)
    assert client.put("/api/v1/tier-program", json=body, headers=marketing).status_code == 403
    admin = headers(session, settings, Role.hq_admin)
    saved = client.put("/api/v1/tier-program", json=body, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json() | {"action_growth": None} == {
        "metric": "calendar_year",
        "evaluation": "monthly",
        "grace_days": 30,
        "downgrade": "one_step",
        "growth_per_yuan": 2,
        "action_growth": None,
        "staff_discount": False,
    }
    assert saved.json()["action_growth"]["registration"] == 10
    assert client.get("/api/v1/tier-program", headers=cashier).json()["growth_per_yuan"] == 2


def test_marketing_builds_the_ladder_and_every_role_reads_it(
    client: TestClient, session: Session, settings: Settings
) -> None:
    marketing = headers(session, settings, Role.hq_marketing)
    base = {"code": "normal", "name": "普通", "name_en": "Member", "rank": 0}
    assert client.post("/api/v1/tiers", json=base, headers=marketing).status_code == 201
    gold = {
        "code": "gold",
        "name": "金卡",
        "name_en": "Gold",
        "rank": 2,
        "entry_threshold": 5000,
        "retention_threshold": 4000,
        "discount_percent": 5,
        "points_multiplier": 1.5,
    }
    created = client.post("/api/v1/tiers", json=gold, headers=marketing)
    assert created.status_code == 201, created.text
    assert created.json()["points_multiplier"] == 1.5
    refused = client.post(
        "/api/v1/tiers",
        json=gold | {"code": "silver", "rank": 1, "entry_threshold": 6000},
        headers=marketing,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "thresholds_not_rising"
    tier_id = created.json()["id"]
    patched = client.patch(
        f"/api/v1/tiers/{tier_id}", json={"points_multiplier": 2}, headers=marketing
    )
    assert patched.json()["points_multiplier"] == 2.0
    nulled = client.patch(f"/api/v1/tiers/{tier_id}", json={"rank": None}, headers=marketing)
    assert nulled.status_code == 422
    cashier = headers(session, settings, Role.cashier)
    assert client.post("/api/v1/tiers", json=base, headers=cashier).status_code == 403
    listed = client.get("/api/v1/tiers", headers=cashier).json()
    assert [t["code"] for t in listed] == ["normal", "gold"]
    assert client.get(f"/api/v1/tiers/{tier_id}", headers=cashier).json()["code"] == "gold"
    assert client.get("/api/v1/tiers/999999", headers=cashier).status_code == 404


def test_a_members_tier_history_and_growth_entries(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    for _ in range(3):
        order(session, store, member, 400_00, NOW)  # 1,200: silver
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    shown = client.get(f"/api/v1/members/{member.id}/tier", headers=cashier)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["tier"]["code"] == "silver"
    assert (body["qualifying_growth"], body["lifetime_growth"]) == (1200, 1200)
    assert (body["next_tier"]["code"], body["growth_needed"]) == ("gold", 3800)
    assert body["review_at"].startswith("2027-03-10")
    assert body["paid"] is False
    history = client.get(f"/api/v1/members/{member.id}/tier/history", headers=cashier).json()
    assert [(c["from_tier"], c["to_tier"], c["reason"]) for c in history["items"]] == [
        ("normal", "silver", "upgrade")
    ]
    path = f"/api/v1/members/{member.id}/growth/entries"
    first = client.get(path, params={"limit": 2}, headers=cashier).json()
    assert [e["growth"] for e in first["items"]] == [400, 400]
    rest = client.get(path, params={"cursor": first["next_cursor"]}, headers=cashier).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    elsewhere = staff_headers(make_staff(session, Role.cashier, [make_store(session)]), settings)
    assert client.get(f"/api/v1/members/{member.id}/tier", headers=elsewhere).status_code == 404


def test_with_no_ladder_the_member_holds_no_tier(
    client: TestClient, session: Session, settings: Settings
) -> None:
    member = make_member(session, make_store(session))
    body = client.get(
        f"/api/v1/members/{member.id}/tier", headers=headers(session, settings, Role.cashier)
    ).json()
    assert (body["tier"], body["next_tier"], body["lifetime_growth"]) == (None, None, 0)


def test_hq_admins_set_a_tier_by_hand_with_a_reason(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_ladder(session)
    member = make_member(session, make_store(session))
    path = f"/api/v1/members/{member.id}/tier"
    body: dict[str, Any] = {"tier_code": "diamond", "reason": "战略客户"}
    marketing = headers(session, settings, Role.hq_marketing)
    assert client.post(path, json=body, headers=marketing).status_code == 403
    admin = headers(session, settings, Role.hq_admin)
    assert client.post(path, json={"tier_code": "diamond"}, headers=admin).status_code == 422
    unknown = client.post(path, json=body | {"tier_code": "gold2"}, headers=admin)
    assert unknown.json()["errors"][0]["code"] == "unknown_tier"
    done = client.post(path, json=body, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["tier"]["code"] == "diamond"
    history = client.get(f"{path}/history", headers=admin).json()["items"]
    assert (history[0]["reason"], history[0]["note"]) == ("manual", "战略客户")
    audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "tiers.set")).one()
    assert audited.entity_id == str(member.id)
