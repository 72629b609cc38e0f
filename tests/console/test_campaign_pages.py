"""The console's campaign screens over HTTP: the review's forecast and its refusals, a refused
wizard shown again with why, create and launch (a second launch click only shows the campaign),
the report export, and who may see and do what."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.campaigns.models import Campaign
from patron.core.actor import Role
from tests.factories import make_member, make_store

WIZARD = {
    "name": "春季唤醒",
    "audience": "rule",
    "rule": 'store = "S1"',
    "actions": "grant_points",
    "points": "100",
    "points_reason": "spring",
    "control_percent": "10",
    "when": "now",
    "attribution_days": "14",
}


def _chart(html: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="campaign-chart-data">(.*?)</script>', html, re.S
    )
    assert found is not None
    return json.loads(found[1])


def test_preview_create_launch_and_export(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    store = make_store(session, "S1")
    for _ in range(12):
        make_member(session, store)
    marketing = signed_in(Role.hq_marketing)
    csrf = marketing.headers["x-csrf"]

    preview = marketing.post("/console/campaigns/preview", data={"csrf": csrf, **WIZARD})
    assert preview.status_code == 200
    forecast = preview.json()
    assert forecast["audience"] == 12
    assert forecast["control"] + forecast["treated"] == 12
    assert forecast["expected_cost"]["points"] == 100 * forecast["treated"]
    refused = marketing.post(
        "/console/campaigns/preview", data={"csrf": csrf, **WIZARD, "rule": "store ="}
    )
    assert refused.status_code == 200
    assert "error" in refused.json()

    nothing = marketing.post(
        "/console/campaigns/new", data={"csrf": csrf, **WIZARD, "actions": "", "intent": "draft"}
    )
    assert nothing.status_code == 422
    assert 'data-refused="1"' in nothing.text

    created = marketing.post(
        "/console/campaigns/new",
        data={"csrf": csrf, **WIZARD, "intent": "launch"},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    page_url = created.headers["location"]
    campaign_id = int(page_url.rsplit("/", 1)[1])
    shown = marketing.get(page_url)
    assert shown.status_code == 200
    assert 'data-testid="campaign-audience">12<' in shown.text
    chart = _chart(shown.text)
    assert chart["groups"] == ["实验组", "对照组"]
    again = marketing.post(f"{page_url}/launch", data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == page_url

    exported = marketing.get(f"{page_url}/report/export?format=csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][0] == "figure"
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    assert campaign.control_size is not None
    assert campaign.status == "done"  # frozen and treated by the queued task, on this database
    assert {r[0]: r[1] for r in rows[1:]}["members"] == str(12 - campaign.control_size)


def test_who_sees_and_does_what(signed_in: Callable[..., TestClient], session: Session) -> None:
    make_store(session, "S1")
    finance = signed_in(Role.hq_finance)
    listed = finance.get("/console/campaigns")
    assert listed.status_code == 200
    assert "/console/campaigns/new" not in listed.text
    assert finance.get("/console/campaigns/new").status_code == 403
    store = make_store(session, "S2")
    manager = signed_in(Role.store_manager, [store])
    assert manager.get("/console/campaigns").status_code == 403
    assert 'href="/console/campaigns"' not in manager.get("/console/members").text
    assert signed_in(Role.hq_marketing).get("/console/campaigns/999999").status_code == 404
