"""A developer signs in to the member page as a demo member: the demo brand sends SMS to the log,
and its first member (with the default seed) has the mobile the README names."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.demo import brand, people
from patron.members.models import Member
from tests.member_auth.conftest import SmsLog

# The README's demo member: the first of `patron demo` (seed 2026).
DEMO_MOBILE = "+8618985592988"


def test_the_first_demo_member_signs_in_with_the_logged_code(
    client: TestClient, session: Session, sms_log: SmsLog
) -> None:
    brand.load(session)
    people.load(session, count=3)
    first = session.scalars(select(Member).order_by(Member.id)).first()
    assert first is not None
    assert first.mobile == DEMO_MOBILE
    local = DEMO_MOBILE.removeprefix("+86")
    assert client.post("/api/v1/member-auth/code", json={"mobile": local}).status_code == 202
    signed = client.post(
        "/api/v1/member-auth/token", json={"mobile": local, "code": sms_log.last_code()}
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["member_id"] == first.id
