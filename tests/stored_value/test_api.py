from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.stored_value.models import Recharge, StoredValueEntry
from tests.factories import make_coupon_template, make_member, make_staff, make_store, staff_headers

CASH = {"method": "cash", "reference": "T-1"}


def written(session: Session) -> tuple[int, int]:
    return (
        int(session.scalar(select(func.count()).select_from(StoredValueEntry)) or 0),
        int(session.scalar(select(func.count()).select_from(Recharge)) or 0),
    )


def post(
    client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str], key: str
) -> Any:
    return client.post(path, json=body, headers={**headers, "Idempotency-Key": key})


def test_a_package_recharge_at_the_till_loads_principal_bonus_and_coupons(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    template = make_coupon_template(session)
    marketing = staff_headers(make_staff(session, Role.hq_marketing), settings)
    package = client.post(
        "/api/v1/stored-value/packages",
        json={
            "name": "充500送50",
            "pay": 50000,
            "bonus": 5000,
            "coupons": [{"template_id": template.id, "count": 2}],
        },
        headers=marketing,
    ).json()
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    body = {"store_id": store.id, "package_id": package["id"], "payment": CASH}
    path = f"/api/v1/members/{member.id}/stored-value/recharges"
    first = post(client, path, body, cashier, "r-1")
    assert first.status_code == 201, first.text
    assert (first.json()["principal"], first.json()["bonus"]) == (50000, 5000)
    replay = post(client, path, body, cashier, "r-1")
    assert replay.json()["id"] == first.json()["id"]
    balance = client.get(f"/api/v1/members/{member.id}/stored-value", headers=cashier).json()
    assert balance == {
        "member_id": member.id,
        "principal": 50000,
        "bonus": 5000,
        "balance": 55000,
        "has_password": False,
        "locked_until": None,
    }
    coupons = client.get(f"/api/v1/members/{member.id}/coupons", headers=cashier).json()
    assert len(coupons["items"]) == 2
    page = client.get(
        f"/api/v1/members/{member.id}/stored-value/entries?limit=1", headers=cashier
    ).json()
    assert [e["kind"] for e in page["items"]] == ["bonus"]
    rest = client.get(
        f"/api/v1/members/{member.id}/stored-value/entries?cursor={page['next_cursor']}",
        headers=cashier,
    ).json()
    assert [(e["kind"], e["principal"], e["store_id"]) for e in rest["items"]] == [
        ("recharge", 50000, store.id)
    ]


def test_refusals_write_nothing(client: TestClient, session: Session, settings: Settings) -> None:
    store, other = make_store(session), make_store(session)
    member = make_member(session, store)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    path = f"/api/v1/members/{member.id}/stored-value/recharges"
    assert (
        post(
            client, path, {"store_id": store.id, "amount": 450000, "payment": CASH}, cashier, "a"
        ).status_code
        == 201
    )
    before = written(session)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"store_id": store.id, "amount": 50001, "payment": CASH}, 409, "balance_cap_exceeded"),
        ({"store_id": store.id, "amount": 1_000_000, "payment": CASH}, 422, "real_name_required"),
        ({"store_id": other.id, "amount": 100, "payment": CASH}, 422, "validation_error"),
        ({"store_id": None, "amount": 100, "payment": CASH}, 422, "validation_error"),
        (
            {"store_id": store.id, "amount": 100, "package_id": 1, "payment": CASH},
            422,
            "validation_error",
        ),
        ({"store_id": store.id, "package_id": 999, "payment": CASH}, 404, "package_not_found"),
        (
            {"store_id": store.id, "amount": 100, "payment": {"method": "stored_value"}},
            422,
            "validation_error",
        ),
    ]
    for number, (body, status, code) in enumerate(cases):
        response = post(client, path, body, cashier, f"b-{number}")
        assert (response.status_code, response.json()["code"]) == (status, code), body
    assert written(session) == before


def test_the_cooling_off_refund_and_the_account_refund(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    path = f"/api/v1/members/{member.id}/stored-value/recharges"
    first = post(
        client, path, {"store_id": store.id, "amount": 20000, "payment": CASH}, manager, "c-1"
    ).json()
    refunded = client.post(f"/api/v1/stored-value/recharges/{first['id']}/refund", headers=manager)
    assert refunded.json()["status"] == "refunded"
    again = client.post(f"/api/v1/stored-value/recharges/{first['id']}/refund", headers=manager)
    assert (again.status_code, again.json()["code"]) == (409, "recharge_refunded")
    post(client, path, {"store_id": store.id, "amount": 30000, "payment": CASH}, manager, "c-2")
    refund = f"/api/v1/members/{member.id}/stored-value/refund"
    assert client.post(refund, json={}, headers=manager).status_code == 403
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    paid = client.post(refund, json={"store_id": store.id, "reason": "closing"}, headers=finance)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["kind"], paid.json()["principal"]) == ("refund", -30000)
    audited = session.scalar(
        select(func.count()).where(AuditEntry.action == "stored_value.account_refund")
    )
    assert audited == 1
    empty = client.post(refund, json={}, headers=finance)
    assert (empty.status_code, empty.json()["code"]) == (409, "nothing_to_refund")


def test_another_stores_member_is_not_seen(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store, other = make_store(session), make_store(session)
    member = make_member(session, other)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    response = client.get(f"/api/v1/members/{member.id}/stored-value", headers=cashier)
    assert response.status_code == 404
