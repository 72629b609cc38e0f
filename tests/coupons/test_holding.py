from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.coupons.models import CouponStatus
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_staff,
    make_store,
    staff_headers,
)

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with clock.frozen(T0):
        yield


@pytest.fixture
def admin(client: TestClient, session: Session, settings: Settings) -> TestClient:
    client.headers.update(staff_headers(make_staff(session), settings))
    return client


def test_a_coupon_by_code_shows_value_validity_scope_source_and_history(
    admin: TestClient, session: Session
) -> None:
    store = make_store(session)
    template = make_coupon_template(
        session, transferable=True, scope={"store_ids": [store.id], "exclude_skus": ["X-1"]}
    )
    member = make_member(session)
    coupon = issue_coupon(session, template, member, store_id=store.id)
    response = admin.get(f"/api/v1/coupons/{coupon.code.lower()}")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == coupon.code
    assert body["status"] == "available"
    assert body["template"]["name"] == template.name
    assert (body["type"], body["threshold"], body["amount"]) == ("cash_off", 10000, 2000)
    assert body["scope_summary"] == f"stores {store.id}; excluding products X-1"
    assert (body["source"], body["store_id"]) == ("manual", store.id)
    assert body["history"] == []


def test_a_code_nobody_holds_is_404(admin: TestClient) -> None:
    for code in ("ABCDEFGHJKMNPQRS", "short", "0000000000000000"):
        response = admin.get(f"/api/v1/coupons/{code}")
        assert (response.status_code, response.json()["code"]) == (404, "coupon_not_found")


def test_store_staff_read_coupons_of_the_members_they_may_read(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine, other = make_store(session), make_store(session)
    template = make_coupon_template(session)
    ours = issue_coupon(session, template, make_member(session, mine))
    theirs = issue_coupon(session, template, make_member(session, other))
    headers = staff_headers(make_staff(session, Role.cashier, [mine]), settings)
    assert client.get(f"/api/v1/coupons/{ours.code}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/coupons/{theirs.code}", headers=headers).status_code == 404
    path = f"/api/v1/members/{theirs.member_id}/coupons"
    assert client.get(path, headers=headers).status_code == 404


def test_a_members_coupons_by_status_read_expired_before_the_job_runs(
    admin: TestClient, session: Session
) -> None:
    member = make_member(session)
    short = make_coupon_template(session, valid_days=1)
    long = make_coupon_template(session, valid_days=30)
    with clock.frozen(T0 - timedelta(days=2)):
        expiring = issue_coupon(session, short, member)
    lasting = [issue_coupon(session, long, member) for _ in range(3)]
    path = f"/api/v1/members/{member.id}/coupons"
    available = admin.get(path, params={"status": "available", "limit": 2}).json()
    assert [c["code"] for c in available["items"]] == [lasting[2].code, lasting[1].code]
    rest = admin.get(path, params={"status": "available", "cursor": available["next_cursor"]})
    assert [c["code"] for c in rest.json()["items"]] == [lasting[0].code]
    expired = admin.get(path, params={"status": "expired"}).json()["items"]
    assert [(c["code"], c["status"]) for c in expired] == [(expiring.code, "expired")]
    assert expiring.status == CouponStatus.available  # nothing written


def test_transfer_moves_the_coupon_with_its_validity_and_history(
    admin: TestClient, session: Session
) -> None:
    template = make_coupon_template(session, transferable=True)
    giver, friend = make_member(session), make_member(session)
    coupon = issue_coupon(session, template, giver)
    until = coupon.valid_until
    path = f"/api/v1/coupons/{coupon.code}/transfer"
    body = {"to_member_id": friend.id}
    response = admin.post(path, json=body, headers={"Idempotency-Key": "t-1"})
    assert response.status_code == 201
    moved = response.json()
    assert moved["member_id"] == friend.id
    assert datetime.fromisoformat(moved["valid_until"]) == until
    assert [(e["kind"], e["from_member_id"], e["to_member_id"]) for e in moved["history"]] == [
        ("transfer", giver.id, friend.id)
    ]
    again = admin.post(path, json=body, headers={"Idempotency-Key": "t-1"})
    assert (again.status_code, again.json()) == (200, moved)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "coupon.transfer"))
    assert entry is not None
    assert entry.after is not None
    assert entry.after["member_id"] == friend.id


@pytest.mark.parametrize("case", ["not_transferable", "to_self", "unknown", "used", "expired"])
def test_a_transfer_is_refused_and_changes_nothing(
    admin: TestClient, session: Session, case: str
) -> None:
    template = make_coupon_template(session, transferable=case != "not_transferable", valid_days=1)
    giver, friend = make_member(session), make_member(session)
    with clock.frozen(T0 - timedelta(days=2) if case == "expired" else T0):
        coupon = issue_coupon(session, template, giver)
    to = {"to_self": giver.id, "unknown": 999_999}.get(case, friend.id)
    if case == "used":
        coupon.status = CouponStatus.redeemed.value
        session.flush()
    response = admin.post(
        f"/api/v1/coupons/{coupon.code}/transfer",
        json={"to_member_id": to},
        headers={"Idempotency-Key": case},
    )
    expected = {
        "not_transferable": (409, "coupon_not_transferable"),
        "to_self": (422, "transfer_to_self"),
        "unknown": (422, "unknown_member"),
        "used": (409, "coupon_unavailable"),
        "expired": (409, "coupon_unavailable"),
    }[case]
    problem = response.json()
    code = problem["errors"][0]["code"] if response.status_code == 422 else problem["code"]
    assert (response.status_code, code) == expected
    session.refresh(coupon)
    assert coupon.member_id == giver.id


def test_void_needs_a_reason_and_is_final(admin: TestClient, session: Session) -> None:
    coupon = issue_coupon(session, make_coupon_template(session), make_member(session))
    path = f"/api/v1/coupons/{coupon.code}/void"
    blank = admin.post(path, json={"reason": " "}, headers={"Idempotency-Key": "v-0"})
    assert blank.status_code == 422
    response = admin.post(path, json={"reason": "发错了"}, headers={"Idempotency-Key": "v-1"})
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["void_reason"]) == ("void", "发错了")
    assert response.json()["history"][0]["kind"] == "void"
    twice = admin.post(path, json={"reason": "再来"}, headers={"Idempotency-Key": "v-2"})
    assert (twice.status_code, twice.json()["code"]) == (409, "coupon_unavailable")
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "coupon.void"))


def test_a_store_manager_voids_only_their_stores_members_coupons(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine, other = make_store(session), make_store(session)
    template = make_coupon_template(session)
    ours = issue_coupon(session, template, make_member(session, mine))
    theirs = issue_coupon(session, template, make_member(session, other))
    headers = staff_headers(make_staff(session, Role.store_manager, [mine]), settings)
    for coupon, status in ((ours, 201), (theirs, 404)):
        response = client.post(
            f"/api/v1/coupons/{coupon.code}/void",
            json={"reason": "x"},
            headers={**headers, "Idempotency-Key": coupon.code},
        )
        assert response.status_code == status
