"""Member sign-in through the API: codes by SMS (the `log` provider's line), their expiry, the
lock after five wrong codes, the send limits, registration, and that no answer tells a member's
mobile from a stranger's before the code is proved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.security import read_member_token
from patron.member_auth.models import SignIn, SignInState
from patron.members import consents
from patron.members.models import Member
from patron.messages.models import Message
from patron.messages.templates import MEMBER_SIGN_IN_CODE, REDACTED
from patron.referrals import service as referrals
from patron.referrals.models import Referral, ReferralStatus
from tests.conftest import TEST_SECRET
from tests.factories import make_member, make_staff, staff_headers
from tests.member_auth.conftest import SmsLog

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MEMBER_MOBILE = "13900001111"
STRANGER_MOBILE = "13900002222"


@pytest.fixture(autouse=True)
def _pinned_clock(sms_on: None) -> None:
    clock.set_now(START)


def ask(client: TestClient, mobile: str, **headers: str) -> object:
    return client.post("/api/v1/member-auth/code", json={"mobile": mobile}, headers=headers)


def token(client: TestClient, mobile: str, code: str) -> object:
    return client.post("/api/v1/member-auth/token", json={"mobile": mobile, "code": code})


def later(seconds: float) -> None:
    clock.set_now(clock.now() + timedelta(seconds=seconds))


def test_a_member_signs_in_with_the_code_from_the_sms_log(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    member = make_member(session, mobile=MEMBER_MOBILE)
    answer = ask(client, MEMBER_MOBILE, **{"X-Device-Id": "phone-1"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "sent", "expires_in": 300, "resend_after": 60}
    line = sms_log.lines[-1]
    assert line.recipient == "139****1111"  # type: ignore[attr-defined]
    code = sms_log.last_code()
    signed = client.post(
        "/api/v1/member-auth/token",
        json={"mobile": MEMBER_MOBILE, "code": code},
        headers={"X-Device-Id": "phone-1"},
    )
    assert signed.status_code == 200, signed.text
    body = signed.json()
    claims = read_member_token(TEST_SECRET, body["access_token"])
    assert claims is not None
    assert claims.member_id == member.id == body["member_id"]
    assert datetime.fromisoformat(body["expires_at"]) == START + timedelta(days=30)
    sign_in = session.scalars(select(SignIn).where(SignIn.member_id == member.id)).one()
    assert sign_in.device_hash
    assert sign_in.client_hash
    assert "phone-1" not in sign_in.device_hash
    # The code is used up, and staff never read it in the messages: redacted once sent.
    assert token(client, MEMBER_MOBILE, code).status_code == 401
    message = session.scalars(
        select(Message).where(Message.template_code == MEMBER_SIGN_IN_CODE)
    ).one()
    session.refresh(message)
    assert message.status == "sent"
    assert code not in message.body
    assert REDACTED in message.body
    assert message.variables["code"] == REDACTED
    admin = staff_headers(make_staff(session, "hq_admin"), client.app.state.settings)  # type: ignore[attr-defined]
    listed = client.get("/api/v1/messages", headers=admin).text
    assert code not in listed


def test_the_code_is_kept_only_as_a_keyed_hash(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    ask(client, MEMBER_MOBILE)
    code = sms_log.last_code()
    state = session.scalars(select(SignInState)).one()
    assert state.code_hash
    assert code not in state.code_hash
    assert MEMBER_MOBILE not in state.mobile_hash
    assert state.code_expires_at == START + timedelta(minutes=5)


def test_member_and_stranger_get_the_same_answers_until_the_code_is_proved(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    make_member(session, mobile=MEMBER_MOBILE)
    answers = [ask(client, m) for m in (MEMBER_MOBILE, STRANGER_MOBILE)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers.keys() == answers[1].headers.keys()
    assert len(sms_log.codes()) == 2  # a stranger gets a code too: they may register
    again = [ask(client, m) for m in (MEMBER_MOBILE, STRANGER_MOBILE)]
    assert [a.status_code for a in again] == [429, 429]
    assert again[0].json()["code"] == again[1].json()["code"] == "code_send_limited"
    assert again[0].headers["Retry-After"] == again[1].headers["Retry-After"] == "60"
    wrong = [token(client, m, "000000") for m in (MEMBER_MOBILE, STRANGER_MOBILE)]
    assert [w.status_code for w in wrong] == [401, 401]
    assert wrong[0].json()["code"] == wrong[1].json()["code"] == "code_invalid"
    stranger_code = sms_log.codes()[1]
    proved = token(client, STRANGER_MOBILE, stranger_code)
    assert proved.status_code == 404
    assert proved.json()["code"] == "registration_required"


def test_a_code_expires_after_five_minutes(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    make_member(session, mobile=MEMBER_MOBILE)
    ask(client, MEMBER_MOBILE)
    code = sms_log.last_code()
    later(5 * 60)
    assert token(client, MEMBER_MOBILE, code).json()["code"] == "code_invalid"
    ask(client, MEMBER_MOBILE)
    fresh = sms_log.last_code()
    later(4 * 60 + 59)
    assert token(client, MEMBER_MOBILE, fresh).status_code == 200


def test_a_new_code_replaces_the_old(client: TestClient, session: Session, sms_log: SmsLog) -> None:
    make_member(session, mobile=MEMBER_MOBILE)
    ask(client, MEMBER_MOBILE)
    first = sms_log.last_code()
    later(61)
    ask(client, MEMBER_MOBILE)
    second = sms_log.last_code()
    if first != second:
        assert token(client, MEMBER_MOBILE, first).status_code == 401
    assert token(client, MEMBER_MOBILE, second).status_code == 200


@pytest.mark.parametrize("mobile", [MEMBER_MOBILE, STRANGER_MOBILE])
def test_five_wrong_codes_lock_the_mobile_for_fifteen_minutes(
    client: TestClient, session: Session, sms_log: SmsLog, mobile: str
) -> None:
    make_member(session, mobile=MEMBER_MOBILE)
    ask(client, mobile)
    code = sms_log.last_code()
    wrong = "000000" if code != "000000" else "111111"
    answers = [token(client, mobile, wrong) for _ in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[-1].json()["code"] == "sign_in_locked"
    assert answers[-1].headers["Retry-After"] == "900"
    locked = token(client, mobile, code)  # even the right code, while locked
    assert locked.status_code == 429
    assert locked.json()["code"] == "sign_in_locked"
    later(14 * 60)
    assert ask(client, mobile).status_code == 202  # answered as ever, but nothing is sent
    assert sms_log.codes() == [code]
    later(60)
    ask(client, mobile)
    fresh = sms_log.last_code()
    expected = 200 if mobile == MEMBER_MOBILE else 404
    assert token(client, mobile, fresh).status_code == expected


def test_sends_are_limited_per_mobile(make_app: Callable[..., FastAPI], sms_log: SmsLog) -> None:
    with TestClient(make_app(member_code_rate="3/hour")) as client:
        for _ in range(3):
            assert ask(client, STRANGER_MOBILE).status_code == 202
            later(61)
        refused = ask(client, STRANGER_MOBILE)
        assert refused.status_code == 429
        assert refused.json()["code"] == "code_send_limited"
        assert refused.headers["Retry-After"]
        assert ask(client, MEMBER_MOBILE).status_code == 202  # another mobile still may
    assert len(sms_log.codes()) == 4


def test_sends_are_limited_per_client_address(
    make_app: Callable[..., FastAPI], sms_log: SmsLog
) -> None:
    with TestClient(make_app(member_code_client_rate="3/hour")) as client:
        mobiles = [f"1390000{n:04d}" for n in range(4)]
        answers = [ask(client, m).status_code for m in mobiles]
    assert answers == [202, 202, 202, 429]
    assert len(sms_log.codes()) == 3


def test_a_stranger_registers_with_consent_asked_not_assumed(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    ask(client, STRANGER_MOBILE)
    code = sms_log.last_code()
    body = {
        "mobile": STRANGER_MOBILE,
        "code": code,
        "name": "周敏",
        "marketing_consent": {"sms": True},
    }
    made = client.post("/api/v1/member-auth/register", json=body, headers={"X-Device-Id": "d-9"})
    assert made.status_code == 201, made.text
    member = session.get(Member, made.json()["member_id"])
    assert member is not None
    assert member.channel == "online"
    assert member.name == "周敏"
    held = {c.channel: (c.granted, c.source) for c in consents.consents_of(session, member.id)}
    assert held == {
        "sms": (True, "member_page"),
        "email": (False, "member_page"),
        "wechat": (False, "member_page"),
    }
    me = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {made.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["mobile"] == "+86" + STRANGER_MOBILE
    # The code was spent on the registration.
    again = client.post("/api/v1/member-auth/register", json=body)
    assert again.status_code == 401


def test_registration_needs_the_right_code(client: TestClient, sms_log: SmsLog) -> None:
    ask(client, STRANGER_MOBILE)
    body = {"mobile": STRANGER_MOBILE, "code": "12345", "name": "周敏"}
    assert client.post("/api/v1/member-auth/register", json=body).status_code == 422
    body["code"] = "000000" if sms_log.last_code() != "000000" else "111111"
    refused = client.post("/api/v1/member-auth/register", json=body)
    assert refused.status_code == 401
    assert refused.json()["code"] == "code_invalid"


def test_an_invite_code_records_the_referral(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    friend = make_member(session, mobile=MEMBER_MOBILE)
    code = referrals.code_of(session, friend.id)
    ask(client, STRANGER_MOBILE)
    body = {"mobile": STRANGER_MOBILE, "code": sms_log.last_code(), "invite_code": code.lower()}
    made = client.post("/api/v1/member-auth/register", json=body, headers={"X-Device-Id": "d-1"})
    assert made.status_code == 201, made.text
    referral = session.scalars(select(Referral)).one()
    assert (referral.referrer_id, referral.invitee_id) == (friend.id, made.json()["member_id"])
    assert referral.status == ReferralStatus.pending.value
    assert referral.device_hash  # the device's hash, to catch a referrer inviting themself


def test_a_member_token_is_refused_on_staff_routes(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    make_member(session, mobile=MEMBER_MOBILE)
    ask(client, MEMBER_MOBILE)
    access = token(client, MEMBER_MOBILE, sms_log.last_code()).json()["access_token"]  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {access}"}
    member_id = session.scalars(select(Member.id)).first()
    for method, path in [
        ("GET", "/api/v1/members"),
        ("GET", f"/api/v1/members/{member_id}"),
        ("GET", f"/api/v1/members/{member_id}/points"),
        ("GET", "/api/v1/stores"),
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/messages"),
        ("POST", f"/api/v1/members/{member_id}/code"),
        ("GET", "/api/v1/orders"),
    ]:
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401, (method, path, answer.status_code)


def test_a_refused_invite_code_does_not_stop_the_registration(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    ask(client, STRANGER_MOBILE)
    body = {"mobile": STRANGER_MOBILE, "code": sms_log.last_code(), "invite_code": "NOPE99"}
    made = client.post("/api/v1/member-auth/register", json=body)
    assert made.status_code == 201, made.text
    assert session.scalars(select(Referral)).all() == []
