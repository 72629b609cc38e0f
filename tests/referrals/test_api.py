"""The referral API: HQ's program settings, staff recording a member's referrer, the list and
the report (JSON, CSV, .xlsx), and the member's own /me/referral."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.core.security import issue_member_token
from patron.core.settings import Settings
from patron.referrals import rewards, service
from tests.factories import make_member, make_order, make_staff, make_store, staff_headers


def test_hq_sets_the_program_and_a_cashier_may_not(
    client: TestClient, session: Session, settings: Settings
) -> None:
    hq = staff_headers(make_staff(session, Role.hq_marketing), settings)
    cashier = staff_headers(make_staff(session, Role.cashier, [make_store(session)]), settings)
    body = {
        "enabled": True,
        "referrer_points": 300,
        "referrer_coupon_template_id": None,
        "invitee_points": 50,
        "invitee_coupon_template_id": None,
        "monthly_cap": 5,
        "reversal_days": 14,
    }
    assert client.put("/api/v1/referral-program", json=body, headers=cashier).status_code == 403
    answer = client.put("/api/v1/referral-program", json=body, headers=hq)
    assert answer.status_code == 200
    assert answer.json()["monthly_cap"] == 5
    assert client.get("/api/v1/referral-program", headers=hq).json()["referrer_points"] == 300
    unknown = client.put(
        "/api/v1/referral-program", json=body | {"invitee_coupon_template_id": 999}, headers=hq
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["code"] == "unknown_template"


def test_staff_record_a_referrer_by_code(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    referrer, invitee = make_member(session, store), make_member(session, store)
    code = service.code_of(session, referrer.id)
    url = f"/api/v1/members/{invitee.id}/referral"
    unknown = client.post(url, json={"code": "QQQQQQ"}, headers=cashier)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["code"] == "unknown_invite_code"
    own = client.post(
        f"/api/v1/members/{referrer.id}/referral", json={"code": code}, headers=cashier
    )
    assert own.json()["errors"][0]["code"] == "own_invite_code"
    made = client.post(url, json={"code": code.lower()}, headers=cashier)
    assert made.status_code == 201
    assert made.json()["referrer_id"] == referrer.id
    assert made.json()["status"] == "pending"
    again = client.post(url, json={"code": code}, headers=cashier)
    assert (again.status_code, again.json()["code"]) == (409, "already_referred")


def test_the_list_and_the_report_in_three_formats(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    hq = staff_headers(make_staff(session, Role.hq_finance), settings)
    referrer = make_member(session, store)
    code = service.code_of(session, referrer.id)
    for _ in range(2):
        invitee = make_member(session, store)
        service.record_invite(session, invitee.id, code)
    make_order(session, store, invitee, occurred_at=clock.now().isoformat())
    rewards.run(session, clock.now())
    listed = client.get("/api/v1/referrals?status=pending&limit=1", headers=hq).json()
    assert [r["status"] for r in listed["items"]] == ["pending"]
    today = clock.now().astimezone(clock.business_tz()).date()
    query = f"from={today - timedelta(days=1)}&to={today}"
    found = client.get(f"/api/v1/referrals/report?{query}", headers=hq).json()
    assert (found["invites"], found["rewarded"], found["pending"]) == (2, 1, 1)
    assert found["from"] == str(today - timedelta(days=1))
    assert found["top_referrers"][0]["member_id"] == referrer.id
    csv = client.get(f"/api/v1/referrals/report?{query}&format=csv", headers=hq)
    assert csv.headers["content-type"].startswith("text/csv")
    assert "invites,2" in csv.text
    xlsx = client.get(f"/api/v1/referrals/report?{query}&format=xlsx", headers=hq)
    assert xlsx.content[:2] == b"PK"


def test_me_referral_shows_my_code_link_qr_and_invitees(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    me, friend = make_member(session, store), make_member(session, store, mobile="13800001234")
    token = issue_member_token(settings.secret_key, me.id, timedelta(hours=1)).token
    headers = {"Authorization": f"Bearer {token}"}
    first = client.get("/api/v1/me/referral", headers=headers).json()
    service.record_invite(session, friend.id, first["code"])
    mine = client.get("/api/v1/me/referral", headers=headers).json()
    assert mine["code"] == first["code"]
    assert mine["link"] == f"{settings.public_url}/m/login?invite={first['code']}"
    assert mine["qr_svg"].startswith("<svg")
    assert mine["invitees"][0]["mobile"] == "138****1234"
    assert (mine["invited"], mine["pending"]) == (1, 1)
    staff = staff_headers(make_staff(session, Role.hq_admin), settings)
    assert client.get("/api/v1/me/referral", headers=staff).status_code == 401
