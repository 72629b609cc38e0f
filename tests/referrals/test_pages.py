"""The console's referral page and the member's /m/invite, without a browser."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.security import issue_member_token
from patron.core.settings import Settings
from patron.member_page.web import MEMBER_COOKIE
from patron.referrals import service
from tests.factories import make_member, make_store


def test_hq_saves_the_program_and_reads_the_report(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    client = signed_in(Role.hq_marketing, lang="en")
    page = client.get("/console/referrals")
    assert page.status_code == 200
    assert "Referral report" in page.text
    form = {
        "csrf": client.headers["x-csrf"],
        "enabled": "on",
        "referrer_points": "500",
        "invitee_points": "abc",
        "referrer_coupon_template_id": "",
        "invitee_coupon_template_id": "",
        "monthly_cap": "3",
        "reversal_days": "15",
    }
    refused = client.post("/console/referrals/program", data=form)
    assert refused.status_code == 422
    saved = client.post("/console/referrals/program", data=form | {"invitee_points": "50"})
    assert saved.status_code == 200  # followed the redirect
    assert "Referral settings saved" in saved.text
    assert service.read_program(session).referrer_points == 500
    csv = client.get("/console/referrals/export?format=csv")
    assert csv.text.startswith("\ufefffigure,value") or "invites" in csv.text


def test_a_cashier_does_not_see_the_page(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    client = signed_in(Role.cashier, [make_store(session)])
    assert client.get("/console/referrals").status_code == 403


def test_the_invite_page_shows_my_code_and_friends(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    me, friend = make_member(session, store), make_member(session, store, mobile="13700005678")
    service.record_invite(session, friend.id, service.code_of(session, me.id))
    token = issue_member_token(settings.secret_key, me.id, timedelta(hours=1)).token
    with TestClient(app) as client:
        client.cookies.set(MEMBER_COOKIE, token, path="/")
        page = client.get("/m/invite")
    assert page.status_code == 200
    assert service.code_of(session, me.id) in page.text
    assert "137****5678" in page.text
    assert "<svg" in page.text
