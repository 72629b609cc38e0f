"""The member page without a browser: sign-in by code (and registration), every page of the
signed-in member in both languages, and another member's coupon refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.security import form_token, issue_member_token
from patron.member_page.web import DEVICE_COOKIE, MEMBER_COOKIE
from patron.members import consents
from patron.members.models import Member
from tests.conftest import TEST_SECRET
from tests.factories import issue_coupon, make_coupon_template, make_member, make_order, make_store
from tests.member_page.conftest import SmsLog

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _pinned(sms_on: None) -> None:
    clock.set_now(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))


def member_client(app: FastAPI, member: Member, lang: str = "zh") -> tuple[TestClient, str]:
    token = issue_member_token(TEST_SECRET, member.id, timedelta(days=1)).token
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(MEMBER_COOKIE, token, path="/")
    client.cookies.set("lang", lang, path="/m")
    return client, form_token(TEST_SECRET, token)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found
    return found.group(1)


def test_sign_in_and_registration_through_the_page(
    app: FastAPI, session: Session, sms_log: SmsLog
) -> None:
    member = make_member(session, mobile="13922220001")
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/m/")
        assert page.status_code == 303
        assert page.headers["location"] == "/m/login"
        login = client.get("/m/login?invite=ABC123")
        assert 'value="ABC123"' in login.text
        assert client.cookies.get(DEVICE_COOKIE)
        csrf = csrf_of(login.text)
        sent = client.post(
            "/m/login/code", data={"csrf": csrf, "mobile": "13922220001", "invite": ""}
        )
        assert sent.status_code == 200
        assert 'name="code"' in sent.text
        wrong = client.post(
            "/m/login/verify", data={"csrf": csrf, "mobile": "13922220001", "code": "99999x"}
        )
        assert "验证码错误" in wrong.text
        signed = client.post(
            "/m/login/verify",
            data={"csrf": csrf, "mobile": "13922220001", "code": sms_log.last_code()},
        )
        assert signed.status_code == 303
        assert client.cookies.get(MEMBER_COOKIE)
        home = client.get("/m/")
        assert home.status_code == 200
        assert f"{member.id:010d}" in home.text
        assert "<svg" in home.text
    with TestClient(app, follow_redirects=False) as stranger:
        csrf = csrf_of(stranger.get("/m/login").text)
        stranger.post("/m/login/code", data={"csrf": csrf, "mobile": "13922220009"})
        code = sms_log.last_code()
        asked = stranger.post(
            "/m/login/verify",
            data={"csrf": csrf, "mobile": "13922220009", "code": code, "invite": "INV1"},
        )
        assert asked.status_code == 200
        assert 'action="/m/register"' in asked.text
        assert "checked" not in asked.text  # consent never pre-ticked
        assert 'value="INV1"' in asked.text
        joined = stranger.post(
            "/m/register",
            data={
                "csrf": csrf,
                "mobile": "13922220009",
                "code": code,
                "name": "陈静",
                "consent_email": "on",
            },
        )
        assert joined.status_code == 303
        me = stranger.get("/m/profile")
        assert "陈静" in me.text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_renders_for_the_member(app: FastAPI, session: Session, lang: str) -> None:
    store = make_store(session)
    member = make_member(session, store)
    make_order(session, store, member)
    issue_coupon(session, make_coupon_template(session, transferable=True), member)
    client, _ = member_client(app, member, lang)
    with client:
        for path in (
            "/m/",
            "/m/pay",
            "/m/points",
            "/m/coupons",
            "/m/tier",
            "/m/orders",
            "/m/count-cards",
            "/m/profile",
            "/m/profile/erase",
            "/m/code.json",
        ):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text[:500])
        assert client.get("/m/code.json").json()["code"].startswith(f"{member.id:010d}")
        exported = client.get("/m/profile/export")
        assert exported.json()["member"]["id"] == member.id


def test_a_member_cannot_give_away_another_members_coupon(app: FastAPI, session: Session) -> None:
    mine = make_member(session, mobile="13922220011")
    other = make_member(session, mobile="13922220012")
    theirs = issue_coupon(session, make_coupon_template(session, transferable=True), other)
    client, csrf = member_client(app, mine)
    with client:
        answer = client.post(
            f"/m/coupons/{theirs.code}/transfer", data={"csrf": csrf, "mobile": "13922220011"}
        )
        assert answer.headers["location"] == "/m/coupons?error=unavailable"
    session.refresh(theirs)
    assert theirs.member_id == other.id


def test_profile_consent_and_erasure(app: FastAPI, session: Session) -> None:
    member = make_member(session, mobile="13922220021")
    client, csrf = member_client(app, member)
    with client:
        saved = client.post(
            "/m/profile", data={"csrf": csrf, "name": "新名", "birthday": "1992-02-02"}
        )
        assert saved.headers["location"] == "/m/profile?done=saved"
        again = client.post("/m/profile", data={"csrf": csrf, "birthday": "1993-03-03"})
        assert again.headers["location"] == "/m/profile?error=birthday_set"
        client.post("/m/profile/consents/sms", data={"csrf": csrf, "granted": "on"})
        assert consents.has_consent(session, member.id, consents.ConsentChannel.sms)
        held = {c.channel: c.source for c in consents.consents_of(session, member.id)}
        assert held["sms"] == "member_page"
        unconfirmed = client.post("/m/profile/erase", data={"csrf": csrf})
        assert unconfirmed.status_code == 422
        erased = client.post("/m/profile/erase", data={"csrf": csrf, "confirm": "on"})
        assert erased.headers["location"] == "/m/login?erased=1"
    session.refresh(member)
    assert member.status == "erased"
    assert member.birthday is None or member.name != "新名"
