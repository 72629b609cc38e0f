"""/api/v1/journeys: creating and checking definitions (422 with a field and a code), status
moves, versions on PATCH, entries, the flow view's counts and the report."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.campaigns import report as campaign_report
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.coupons.models import Coupon
from patron.journeys import runner
from patron.tags import service as tags
from patron.tags.schemas import TagCreate
from tests.factories import (
    make_coupon_template,
    make_member,
    make_order,
    make_staff,
    make_store,
    staff_headers,
)
from tests.journeys.helpers import NOW, body

URL = "/api/v1/journeys"
REGISTERED = {"event": "member.registered"}


@pytest.fixture(autouse=True)
def _daytime() -> None:
    clock.set_now(NOW)


@pytest.fixture
def hq(session: Session, settings: Settings) -> dict[str, str]:
    return staff_headers(make_staff(session, Role.hq_marketing), settings)


def _error(response: Any) -> tuple[int, str, str]:
    problem = response.json()
    (error,) = problem["errors"]
    return response.status_code, error["field"], error["code"]


def test_a_definition_that_does_not_hold_together_is_refused(
    client: TestClient, session: Session, hq: dict[str, str]
) -> None:
    tags.create_tag(
        session,
        SYSTEM,
        TagCreate.model_validate({"name": "高频", "kind": "rule", "rule": "frequency >= 3"}),
    )
    cases = [
        ([{"key": "a", "type": "exit", "next": "zz"}], "steps[0].next", "unknown_step"),
        (
            [{"key": "a", "type": "exit"}, {"key": "a", "type": "exit"}],
            "steps[1].key",
            "step_key_taken",
        ),
        (
            [
                {"key": "a", "type": "branch", "rule": "frequency > 1", "yes": "b", "no": "a"},
                {"key": "b", "type": "exit"},
            ],
            "steps[0]",
            "loop_without_wait",
        ),
        (
            [{"key": "a", "type": "condition", "rule": "frequency >"}],
            "steps[0].rule",
            "invalid_rule",
        ),
        (
            [{"key": "a", "type": "action", "action": "issue_coupon", "template_id": 999}],
            "steps[0].template_id",
            "unknown_template",
        ),
        (
            [
                {
                    "key": "a",
                    "type": "action",
                    "action": "send_message",
                    "channel": "sms",
                    "template": "nope",
                }
            ],
            "steps[0].template",
            "unknown_template",
        ),
        (
            [{"key": "a", "type": "action", "action": "tag_add", "tag": "没有"}],
            "steps[0].tag",
            "unknown_tag",
        ),
        (
            [{"key": "a", "type": "action", "action": "tag_add", "tag": "高频"}],
            "steps[0].tag",
            "rule_tag_is_computed",
        ),
    ]
    for steps, field, code in cases:
        response = client.post(URL, json=body(REGISTERED, steps), headers=hq)
        assert _error(response) == (422, field, code), steps
    every = body(REGISTERED, [{"key": "a", "type": "exit"}], entry_limit="every_n_days")
    assert _error(client.post(URL, json=every, headers=hq)) == (
        422,
        "entry_days",
        "entry_days_needed",
    )
    looping = [
        {"key": "w", "type": "wait", "days": 7},
        {"key": "a", "type": "branch", "rule": "frequency > 1", "yes": "b", "no": "w"},
        {"key": "b", "type": "exit"},
    ]
    assert client.post(URL, json=body(REGISTERED, looping), headers=hq).status_code == 201
    unknown = body({"event": "moon_phase"}, [{"key": "a", "type": "exit"}], name="月相")
    assert client.post(URL, json=unknown, headers=hq).status_code == 422
    wait = body(REGISTERED, [{"key": "w", "type": "wait"}], name="空等")
    assert client.post(URL, json=wait, headers=hq).status_code == 422


def test_a_journey_from_draft_to_archive(
    client: TestClient, session: Session, hq: dict[str, str]
) -> None:
    template = make_coupon_template(session, threshold=0, amount=980)
    steps = [
        {"key": "w", "type": "wait", "days": 1},
        {"key": "c", "type": "action", "action": "issue_coupon", "template_id": template.id},
    ]
    created = client.post(URL, json=body(REGISTERED, steps, control_percent=0), headers=hq)
    assert created.status_code == 201, created.json()
    journey = created.json()
    assert (journey["status"], journey["version"], journey["control_percent"]) == ("draft", 1, 0)
    journey_id = journey["id"]
    taken = client.post(URL, json=body(REGISTERED, steps), headers=hq)
    assert taken.json()["code"] == "journey_name_taken"
    assert client.post(f"{URL}/{journey_id}/pause", headers=hq).json()["code"] == (
        "journey_status_conflict"
    )
    assert client.post(f"{URL}/{journey_id}/activate", headers=hq).json()["status"] == "active"
    make_member(session)
    make_member(session)
    # Changed with members inside: version 2; they stay on version 1.
    patched = client.patch(
        f"{URL}/{journey_id}", json={"steps": steps[1:], "name": "新客礼"}, headers=hq
    )
    assert (patched.json()["version"], patched.json()["name"]) == (2, "新客礼")
    newcomer = make_member(session)
    page = client.get(f"{URL}/{journey_id}/entries", params={"limit": 2}, headers=hq).json()
    assert [e["version"] for e in page["items"]] == [2, 1]
    rest = client.get(
        f"{URL}/{journey_id}/entries", params={"cursor": page["next_cursor"]}, headers=hq
    ).json()
    assert ([e["version"] for e in rest["items"]], rest["next_cursor"]) == ([1], None)

    runner.advance(session, NOW)
    flow = client.get(f"{URL}/{journey_id}/flow", headers=hq).json()
    assert flow["version"] == 2
    assert flow["steps"] == [
        {
            "key": "c",
            "type": "action",
            "action": "issue_coupon",
            "waiting": 0,
            "outcomes": {"done": 1},
        }
    ]
    old = client.get(f"{URL}/{journey_id}/flow", params={"version": 1}, headers=hq).json()
    assert [(s["key"], s["waiting"]) for s in old["steps"]] == [("w", 2), ("c", 0)]
    assert old["entries"]["active"] == 2

    store = make_store(session)
    clock.set_now(NOW + timedelta(days=2))
    coupon = session.scalars(select(Coupon).where(Coupon.member_id == newcomer.id)).one()
    redeemed = [{"code": coupon.code, "amount": 980}]
    make_order(session, store, newcomer, occurred_at=clock.now().isoformat(), coupons=redeemed)
    clock.set_now(NOW)  # the staff token's lifetime
    report = client.get(f"{URL}/{journey_id}/report", headers=hq).json()
    assert report["attribution_days"] == 14
    assert (report["treated"]["members"], report["control"]["members"]) == (3, 0)
    assert report["treated"]["converters"] == 1
    assert (report["treated"]["coupon_redemptions"], report["control"]["coupon_redemptions"]) == (
        1,
        0,
    )
    assert report["treated"]["cost"] == {
        "coupons": 1,
        "points": 0,
        "messages": 0,
        "coupon_discount": 980,
    }
    for file_format in ("csv", "xlsx"):
        sheet = client.get(f"{URL}/{journey_id}/report", params={"format": file_format}, headers=hq)
        assert sheet.status_code == 200, sheet.text
        assert f"journey-{journey_id}-report" in sheet.headers["content-disposition"]
        table = _table(file_format, sheet.content)
        assert table[0] == list(campaign_report.COLUMNS)
        by_figure = {row[0]: row for row in table[1:]}
        assert by_figure["members"][1:3] == ["3", "0"]
        assert by_figure["coupon_redemptions"][1:3] == ["1", "0"]
        assert float(by_figure["conversion_rate"][1]) == pytest.approx(1 / 3, abs=1e-6)
        assert by_figure["cost_coupon_discount"][1:3] == ["980", "0"]
    assert report["uplift"]["conversion"]["treated"] == pytest.approx(1 / 3)
    assert report["uplift"]["conversion"]["absolute"] is None  # no control group

    archived = client.post(f"{URL}/{journey_id}/archive", headers=hq).json()
    assert archived["status"] == "archived"
    after = client.get(f"{URL}/{journey_id}/flow", params={"version": 1}, headers=hq).json()
    assert after["entries"]["exited"] == 2
    assert client.post(f"{URL}/{journey_id}/activate", headers=hq).json()["code"] == (
        "journey_archived"
    )
    listed = client.get(URL, params={"status": "archived"}, headers=hq).json()
    assert [j["id"] for j in listed["items"]] == [journey_id]


def _table(file_format: str, content: bytes) -> list[list[str]]:
    if file_format == "csv":
        return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


def test_store_managers_read_and_cashiers_do_not(
    client: TestClient, session: Session, settings: Settings
) -> None:
    manager = staff_headers(make_staff(session, Role.store_manager), settings)
    cashier = staff_headers(make_staff(session, Role.cashier), settings)
    assert client.get(URL, headers=manager).status_code == 200
    assert client.get(URL, headers=cashier).status_code == 403
    steps = [{"key": "a", "type": "exit"}]
    assert client.post(URL, json=body(REGISTERED, steps), headers=manager).status_code == 403
