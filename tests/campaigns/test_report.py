"""A campaign's report: group figures over the attribution window, coupon redemptions and cost,
the uplift block; GET /api/v1/campaigns/{id}/report as JSON, CSV and .xlsx."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from patron.campaigns import report
from patron.campaigns.models import Campaign, CampaignMember, CampaignOutcome
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.coupons.models import IssueSource
from patron.members.models import Member
from patron.stores.models import Store
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_order,
    make_staff,
    make_store,
    staff_headers,
)

LAUNCH = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LATER = LAUNCH + timedelta(days=20)


def _campaign(session: Session, **fields: object) -> Campaign:
    data: dict[str, object] = {
        "name": "沉睡唤醒",
        "rule": "recency_days > 90",
        "actions": [
            {"type": "issue_coupon", "template_id": 1},
            {"type": "grant_points", "points": 100, "reason": "wake"},
            {"type": "send_message", "channel": "sms", "template": "wake"},
        ],
        "control_percent": 10,
        "seed": 7,
        "attribution_days": 14,
        "status": "done",
        "launched_at": LAUNCH,
    }
    data.update(fields)
    campaign = Campaign(**data)
    session.add(campaign)
    session.flush()
    return campaign


def _buy(session: Session, store: Store, member: Member, at: datetime, **fields: object) -> None:
    make_order(session, store, member, occurred_at=at.isoformat(), **fields)


def _world(session: Session) -> tuple[Campaign, list[Member], list[Member]]:
    store = make_store(session)
    treated = [make_member(session, store) for _ in range(4)]
    control = [make_member(session, store) for _ in range(2)]
    campaign = _campaign(session)
    for member in treated + control:
        session.add(
            CampaignMember(
                campaign_id=campaign.id,
                member_id=member.id,
                in_control=member in control,
                treated_at=LAUNCH if member in treated else None,
            )
        )
    session.add_all(
        [
            CampaignOutcome(
                campaign_id=campaign.id, action_index=0, outcome="done", members=4, units=4
            ),
            CampaignOutcome(
                campaign_id=campaign.id, action_index=1, outcome="done", members=4, units=400
            ),
            CampaignOutcome(
                campaign_id=campaign.id, action_index=2, outcome="done", members=3, units=3
            ),
            CampaignOutcome(
                campaign_id=campaign.id, action_index=2, outcome="no_consent", members=1, units=0
            ),
        ]
    )
    template = make_coupon_template(session, threshold=0, amount=980)
    with clock.frozen(LAUNCH):
        coupons = [
            issue_coupon(
                session,
                template,
                m,
                source=IssueSource.campaign,
                source_ref=f"campaign:{campaign.id}",
            )
            for m in treated
        ]
        # Another campaign's coupon, redeemed: not this campaign's.
        other = issue_coupon(session, template, control[0], source=IssueSource.manual)
    with clock.frozen(LATER):
        _buy(
            session,
            store,
            treated[0],
            LAUNCH + timedelta(days=1),
            coupons=[{"code": coupons[0].code, "amount": 980}],
        )
        _buy(session, store, treated[1], LAUNCH + timedelta(days=2))
        _buy(session, store, treated[1], LAUNCH + timedelta(days=15))  # after the window
        _buy(
            session,
            store,
            control[0],
            LAUNCH + timedelta(days=3),
            coupons=[{"code": other.code, "amount": 980}],
        )
    session.flush()
    return campaign, treated, control


def test_the_report_compares_the_groups_over_the_window(session: Session) -> None:
    campaign, _, _ = _world(session)
    with clock.frozen(LATER):
        found = report.campaign_report(session, SYSTEM, campaign.id)
    assert (found.window_start, found.window_end) == (LAUNCH, LAUNCH + timedelta(days=14))
    assert found.complete
    treated, control = found.treated, found.control
    assert (treated.members, treated.converters, treated.revenue) == (4, 2, 24000)
    assert (control.members, control.converters, control.revenue) == (2, 1, 12000)
    assert treated.conversion_rate == 0.5
    assert treated.revenue_per_member == 6000
    assert control.revenue_per_member == 6000
    assert treated.coupon_redemptions == 1
    assert control.coupon_redemptions == 0
    assert treated.cost == report.Cost(coupons=4, points=400, messages=3, coupon_discount=980)
    assert control.cost == report.Cost()
    assert found.uplift.conversion.absolute == 0.0
    assert found.uplift.incremental_revenue == 0


def test_before_launch_the_report_is_empty(session: Session) -> None:
    campaign = _campaign(session, status="draft", launched_at=None)
    found = report.campaign_report(session, SYSTEM, campaign.id)
    assert found.window_start is None
    assert not found.complete
    assert found.treated.members == found.control.members == 0
    assert found.uplift.conversion.absolute is None


def test_an_open_window_is_not_complete(session: Session) -> None:
    campaign = _campaign(session)
    with clock.frozen(LAUNCH + timedelta(days=3)):
        assert not report.campaign_report(session, SYSTEM, campaign.id).complete


def _url(campaign_id: int) -> str:
    return f"/api/v1/campaigns/{campaign_id}/report"


def test_the_api_answers_json(client: TestClient, session: Session, settings: Settings) -> None:
    campaign, _, _ = _world(session)
    headers = staff_headers(make_staff(session, Role.hq_finance), settings)
    with clock.frozen(LATER):
        response = client.get(_url(campaign.id), headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["treated"] == {
        "members": 4,
        "converters": 2,
        "conversion_rate": 0.5,
        "revenue": 24000,
        "revenue_per_member": 6000.0,
        "coupon_redemptions": 1,
        "cost": {"coupons": 4, "points": 400, "messages": 3, "coupon_discount": 980},
    }
    assert body["control"]["members"] == 2
    uplift = body["uplift"]
    assert uplift["confidence"] == 0.95
    assert set(uplift["conversion"]) == {
        "treated",
        "control",
        "absolute",
        "absolute_ci",
        "relative",
        "relative_ci",
    }
    low, high = uplift["conversion"]["absolute_ci"]
    assert low < 0 < high
    assert uplift["incremental_revenue"] == 0
    assert body["complete"] is True


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_api_exports_the_report(
    client: TestClient, session: Session, settings: Settings, file_format: str
) -> None:
    campaign, _, _ = _world(session)
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    with clock.frozen(LATER):
        response = client.get(_url(campaign.id), params={"format": file_format}, headers=headers)
    assert response.status_code == 200, response.text
    assert f"campaign-{campaign.id}-report" in response.headers["content-disposition"]
    if file_format == "csv":
        table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert sheet is not None
        table = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
    assert table[0] == list(report.COLUMNS)
    by_figure = {row[0]: row for row in table[1:]}
    assert by_figure["members"][1:3] == ["4", "2"]
    assert float(by_figure["conversion_rate"][1]) == 0.5
    assert by_figure["cost_points"][1:3] == ["400", "0"]
    assert by_figure["incremental_revenue"][3] == "0"


def test_unknown_campaigns_and_store_staff_are_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    hq = staff_headers(make_staff(session, Role.hq_admin), settings)
    response = client.get(_url(999999), headers=hq)
    assert response.status_code == 404
    assert response.json()["code"] == "campaign_not_found"
    campaign = _campaign(session)
    store = make_store(session)
    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    assert client.get(_url(campaign.id), headers=manager).status_code == 403
