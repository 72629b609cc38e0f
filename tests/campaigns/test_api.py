"""/api/v1/campaigns: build, preview, launch (idempotent), groups, cancel; refusals with codes;
roles."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from tests.campaigns.conftest import EVERYONE, actions, build
from tests.factories import make_staff, staff_headers

API = "/api/v1/campaigns"


def _body(world: Any, **fields: object) -> dict[str, object]:
    return {"name": "会员日", "rule": EVERYONE, "actions": actions(world)} | fields


def test_build_preview_launch_and_read_the_groups(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, count=12)
    hq = staff_headers(make_staff(session, Role.hq_marketing), settings)
    preview = client.post(f"{API}/preview", json=_body(world, control_percent=20), headers=hq)
    assert preview.status_code == 200, preview.text
    found = preview.json()
    assert (found["audience"], found["budget_ok"]) == (12, True)
    # the refusing members drawn into the treated group (the seed is the campaign's own)
    assert found["skipped"].get("no_marketing", 0) <= len(world.refusing)
    created = client.post(API, json=_body(world, control_percent=20), headers=hq)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert (campaign["status"], campaign["control_percent"]) == ("draft", 20)
    url = f"{API}/{campaign['id']}"
    patched = client.patch(url, json={"name": "会员日2", "budget_coupons": None}, headers=hq)
    assert patched.json()["name"] == "会员日2"
    assert client.patch(url, json={"name": None}, headers=hq).status_code == 422
    key = {"Idempotency-Key": "launch-1"}
    launched = client.post(f"{url}/launch", headers=hq | key)
    assert launched.status_code == 201, launched.text
    assert launched.json()["status"] == "running"  # as answered at launch; treated since
    again = client.post(f"{url}/launch", headers=hq | key)
    assert (again.status_code, again.json()) == (200, launched.json())
    twice = client.post(f"{url}/launch", headers=hq | {"Idempotency-Key": "launch-2"})
    assert (twice.status_code, twice.json()["code"]) == (409, "already_launched")
    assert client.post(f"{url}/launch", headers=hq).status_code == 422  # no key
    detail = client.get(url, headers=hq).json()
    assert detail["status"] == "done"
    assert detail["audience_size"] == 12
    assert detail["treated"] == 12 - detail["control_size"]
    done = [o for o in detail["outcomes"] if o["outcome"] == "done"]
    assert {o["type"] for o in done} == {"issue_coupon", "send_message"}
    treated = client.get(f"{url}/members", params={"group": "treated", "limit": 5}, headers=hq)
    page = treated.json()
    assert len(page["items"]) == min(5, detail["treated"])
    assert all(not m["in_control"] and m["treated_at"] for m in page["items"])
    ids = [m["member_id"] for m in page["items"]]
    assert ids == sorted(ids, reverse=True)
    control = client.get(f"{url}/members", params={"group": "control"}, headers=hq).json()
    assert len(control["items"]) == detail["control_size"]
    assert all(m["in_control"] and m["treated_at"] is None for m in control["items"])
    assert client.get(f"{url}/members", params={"group": "x"}, headers=hq).status_code == 422
    listed = client.get(API, params={"status": "done"}, headers=hq).json()
    assert [c["id"] for c in listed["items"]] == [campaign["id"]]
    cancelled = client.post(f"{url}/cancel", headers=hq)
    assert (cancelled.status_code, cancelled.json()["code"]) == (409, "campaign_not_editable")


def test_refusals_with_codes(client: TestClient, session: Session, settings: Settings) -> None:
    world = build(session, count=3)
    hq = staff_headers(make_staff(session, Role.hq_marketing), settings)

    def code(response: Any) -> tuple[int, str]:
        return response.status_code, response.json().get("code")

    invalid = client.post(API, json=_body(world, rule='tier = "gold" and'), headers=hq)
    assert code(invalid) == (422, "invalid_rule")
    assert "line" in invalid.json()
    unknown = [{"type": "issue_coupon", "template_id": 424242}]
    assert code(client.post(API, json=_body(world, actions=unknown), headers=hq)) == (
        422,
        "unknown_template",
    )
    missing = [{"type": "send_message", "channel": "wechat", "template": "nope"}]
    assert (
        code(client.post(f"{API}/preview", json=_body(world, actions=missing), headers=hq))[1]
        == "unknown_template"
    )
    unmeasured = client.post(API, json=_body(world, control_percent=0), headers=hq)
    assert unmeasured.status_code == 422
    assert unmeasured.json()["errors"][0]["field"] == "control_reason"
    assert client.post(API, json=_body(world, control_percent=60), headers=hq).status_code == 422
    bad_action = [{"type": "grant_points", "points": 0, "reason": "x"}]
    assert client.post(API, json=_body(world, actions=bad_action), headers=hq).status_code == 422
    tight = client.post(
        API,
        json=_body(world, control_percent=0, control_reason="全员", budget_coupons=0),
        headers=hq,
    ).json()
    over = client.post(f"{API}/{tight['id']}/launch", headers=hq | {"Idempotency-Key": "k"})
    assert code(over) == (422, "budget_below_cost")
    assert client.get(f"{API}/{tight['id']}", headers=hq).json()["status"] == "draft"
    assert code(client.get(f"{API}/999999", headers=hq)) == (404, "campaign_not_found")


def test_roles(client: TestClient, session: Session, settings: Settings) -> None:
    world = build(session, count=3)
    for role in (Role.store_manager, Role.cashier, Role.guide, Role.hq_finance):
        headers = staff_headers(make_staff(session, role), settings)
        assert client.post(API, json=_body(world), headers=headers).status_code == 403
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    assert client.get(API, headers=finance).status_code == 200
    manager = staff_headers(make_staff(session, Role.store_manager), settings)
    assert client.get(API, headers=manager).status_code == 403
