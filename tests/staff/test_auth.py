from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.staff import jobs as staff_jobs
from patron.staff import service as staff
from tests.factories import PASSWORD, auth, make_staff, make_store, staff_headers


def audit_entries(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def login(client: TestClient, username: str, password: str = PASSWORD) -> httpx2.Response:
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_login_returns_a_bearer_token(client: TestClient, session: Session) -> None:
    make_staff(session, username="alice")
    response = login(client, "alice")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_at"]
    me = client.get("/api/v1/auth/me", headers=auth(body["access_token"]))
    assert me.json()["name"] == "alice"
    assert me.json()["role"] == "hq_admin"


def test_wrong_password_and_unknown_user_answer_alike(client: TestClient, session: Session) -> None:
    make_staff(session, username="alice")
    wrong = login(client, "alice", "not-the-password")
    unknown = login(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"


def test_five_wrong_passwords_lock_the_account(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_staff(session, username="alice")
    codes = [login(client, "alice", f"wrong-{i}").json()["code"] for i in range(5)]
    assert codes == ["invalid_credentials"] * 4 + ["account_locked"]

    locked = login(client, "alice")
    assert locked.status_code == 423
    assert locked.json()["code"] == "account_locked"
    assert "locked_until" in locked.json()

    with clock.frozen(clock.now() + timedelta(minutes=settings.login_lock_minutes, seconds=1)):
        assert login(client, "alice").status_code == 200


def test_a_success_resets_the_failure_count(client: TestClient, session: Session) -> None:
    make_staff(session, username="alice")
    for _ in range(4):
        login(client, "alice", "wrong")
    assert login(client, "alice").status_code == 200
    for _ in range(4):
        assert login(client, "alice", "wrong").json()["code"] == "invalid_credentials"


def test_lockout_is_audited(client: TestClient, session: Session, settings: Settings) -> None:
    user = make_staff(session, username="alice")
    for _ in range(5):
        login(client, "alice", "wrong")
    admin = make_staff(session)
    entries = client.get(
        "/api/v1/audit", params={"action": "staff.locked"}, headers=staff_headers(admin, settings)
    ).json()["items"]
    assert [e["entity_id"] for e in entries] == [str(user.id)]


def test_login_attempts_are_rate_limited_per_address(
    make_app: Callable[..., FastAPI], session: Session
) -> None:
    make_staff(session, username="alice")
    with TestClient(make_app(login_rate_limit="3/minute")) as client:
        statuses = [login(client, "alice").status_code for _ in range(4)]
        limited = login(client, "alice")
    assert statuses == [200, 200, 200, 429]
    assert limited.json()["code"] == "rate_limited"


def test_password_reset_ends_old_sessions(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    cashier = make_staff(session, Role.cashier, [make_store(session)], username="bob")
    old = login(client, "bob").json()["access_token"]
    response = client.patch(
        f"/api/v1/staff/{cashier.id}",
        json={"password": "N3w-password"},
        headers=staff_headers(admin, settings),
    )
    assert response.status_code == 200
    assert client.get("/api/v1/stores", headers=auth(old)).status_code == 401
    assert login(client, "bob", "N3w-password").status_code == 200


def test_deactivated_staff_cannot_use_tokens_or_log_in(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    cashier = make_staff(session, Role.cashier, [make_store(session)], username="bob")
    token = login(client, "bob").json()["access_token"]
    client.patch(
        f"/api/v1/staff/{cashier.id}",
        json={"is_active": False},
        headers=staff_headers(admin, settings),
    )
    assert client.get("/api/v1/stores", headers=auth(token)).status_code == 401
    assert login(client, "bob").status_code == 401


def test_sign_out_ends_only_that_token(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_staff(session, username="alice")
    phone = login(client, "alice").json()["access_token"]
    desk = login(client, "alice").json()["access_token"]
    assert client.post("/api/v1/auth/logout", headers=auth(phone)).status_code == 204
    refused = client.get("/api/v1/auth/me", headers=auth(phone))
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"
    assert client.get("/api/v1/auth/me", headers=auth(desk)).status_code == 200
    assert [e.action for e in audit_entries(session, "staff.sign_out")] == ["staff.sign_out"]


def test_an_api_key_cannot_sign_out(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    key = client.post(
        "/api/v1/api-keys",
        json={"name": "POS", "all_stores": True},
        headers=staff_headers(admin, settings),
    ).json()["key"]
    refused = client.post("/api/v1/auth/logout", headers=auth(key))
    assert refused.status_code == 403
    assert client.get("/api/v1/stores", headers=auth(key)).status_code == 200


def test_the_job_forgets_sign_outs_once_their_tokens_expire(
    session: Session, settings: Settings
) -> None:
    user = make_staff(session)
    token = staff.issue_token(user, settings).token
    staff.sign_out(session, settings, token)
    staff.sign_out(session, settings, token)  # a second sign-out of the same token is a no-op
    assert staff.actor_for_token(session, settings, token) is None
    assert staff_jobs.forget_expired_sign_outs(session, clock.now()) == 0
    later = clock.now() + timedelta(minutes=settings.token_ttl_minutes)
    assert staff_jobs.forget_expired_sign_outs(session, later) == 1
    with clock.frozen(later):
        assert staff.actor_for_token(session, settings, token) is None


def test_expired_and_forged_tokens_are_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = make_staff(session)
    token = staff.issue_token(user, settings).token
    with clock.frozen(clock.now() + timedelta(minutes=settings.token_ttl_minutes + 1)):
        assert client.get("/api/v1/stores", headers=auth(token)).status_code == 401
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.get("/api/v1/stores", headers=auth(forged)).status_code == 401


def test_revoked_api_key_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    store = make_store(session)
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "POS", "store_ids": [store.id]},
        headers=staff_headers(admin, settings),
    ).json()
    key = created["key"]
    assert key.startswith("pk_")
    assert client.get("/api/v1/stores", headers=auth(key)).status_code == 200

    revoked = client.delete(
        f"/api/v1/api-keys/{created['id']}", headers=staff_headers(admin, settings)
    )
    assert revoked.json()["revoked_at"] is not None
    refused = client.get("/api/v1/stores", headers=auth(key))
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"


def test_api_keys_are_stored_hashed_and_shown_once(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = make_staff(session)
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "Mall", "all_stores": True},
        headers=staff_headers(admin, settings),
    ).json()
    listed = client.get("/api/v1/api-keys", headers=staff_headers(admin, settings)).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    assert listed[0]["prefix"] == created["key"][:10]
    from patron.apikeys.models import ApiKey

    stored = session.get(ApiKey, created["id"])
    assert stored is not None
    assert created["key"] not in stored.key_hash


def test_only_hq_admin_manages_api_keys(
    client: TestClient, session: Session, settings: Settings
) -> None:
    finance = make_staff(session, Role.hq_finance)
    response = client.post(
        "/api/v1/api-keys",
        json={"name": "x", "all_stores": True},
        headers=staff_headers(finance, settings),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_logins_go_on_when_the_rate_limit_store_is_down(caplog: pytest.LogCaptureFixture) -> None:
    from patron.core.ratelimit import RateLimiter

    limiter = RateLimiter("redis://127.0.0.1:6399", "1/minute")  # nothing listens there
    assert limiter.hit("login", "10.0.0.1") is True
    assert limiter.hit("login", "10.0.0.1") is True  # unlimited, and said so in the log
    assert "rate-limit storage unavailable" in caplog.text
