"""Count cards over HTTP: products, a sale paid from outside, uses and their revocation, store
scope, and refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.count_cards.models import CountCard, CountCardUse
from patron.members import codes
from patron.stored_value import recharges
from patron.stored_value.models import StoredValueEntry
from tests.factories import make_member, make_staff, make_store, staff_headers

CASH = {"method": "cash", "reference": "T-9"}
# 10:00 in Shanghai on a Monday.
MONDAY = datetime(2026, 3, 2, 2, tzinfo=UTC)
WASH = {"name": "洗车10次", "service": "car wash", "uses": 10, "validity_days": 7, "price": 30000}


def post(
    client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str], key: str
) -> Any:
    return client.post(path, json=body, headers={**headers, "Idempotency-Key": key})


def written(session: Session) -> tuple[int, int, int, int]:
    def count(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    left = session.scalar(select(func.coalesce(func.sum(CountCard.uses_left), 0)))
    return count(CountCard), count(CountCardUse), int(left or 0), count(AuditEntry)


@pytest.fixture
def till(session: Session, settings: Settings) -> dict[str, Any]:
    store = make_store(session)
    cashier = make_staff(session, Role.cashier, [store])
    return {
        "store": store,
        "member": make_member(session, store),
        "cashier": staff_headers(cashier, settings),
        "cashier_name": cashier.username,
        "marketing": staff_headers(make_staff(session, Role.hq_marketing), settings),
    }


def make_product(client: TestClient, headers: dict[str, str], **fields: Any) -> Any:
    response = client.post("/api/v1/count-card-products", json={**WASH, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def sell(client: TestClient, till: dict[str, Any], product_id: int, key: str) -> Any:
    body = {"store_id": till["store"].id, "product_id": product_id, "payment": CASH}
    return post(
        client, f"/api/v1/members/{till['member'].id}/count-cards", body, till["cashier"], key
    )


def test_products_are_edited_by_hq_and_read_by_everyone(
    client: TestClient, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"])
    assert product | {"id": 0} == {**WASH, "id": 0, "active": True}
    refused = client.post("/api/v1/count-card-products", json=WASH, headers=till["cashier"])
    assert refused.status_code == 403
    path = f"/api/v1/count-card-products/{product['id']}"
    changed = client.patch(
        path, json={"active": False, "validity_days": None}, headers=till["marketing"]
    )
    assert (changed.json()["active"], changed.json()["validity_days"]) == (False, None)
    null = client.patch(path, json={"uses": None}, headers=till["marketing"])
    assert null.status_code == 422
    assert null.json()["errors"][0]["code"] == "missing"
    assert client.get(path, headers=till["cashier"]).json()["active"] is False
    listed = client.get("/api/v1/count-card-products", headers=till["cashier"]).json()
    assert [p["id"] for p in listed] == [product["id"]]
    assert (
        client.get("/api/v1/count-card-products/99999", headers=till["cashier"]).status_code == 404
    )
    zero = client.post(
        "/api/v1/count-card-products", json={**WASH, "uses": 0}, headers=till["marketing"]
    )
    assert zero.status_code == 422


def test_a_sale_records_the_payment_and_the_card_runs_to_the_end_of_its_last_day(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"])
    with clock.frozen(MONDAY):
        first = sell(client, till, product["id"], "s-1")
        replay = sell(client, till, product["id"], "s-1")
    assert first.status_code == 201, first.text
    card = first.json()
    assert replay.status_code == 200
    assert replay.json()["id"] == card["id"]
    assert card["member_id"] == till["member"].id
    assert (card["product_name"], card["uses"], card["uses_left"], card["status"]) == (
        "洗车10次",
        10,
        10,
        "available",
    )
    assert (card["price"], card["payment_method"], card["payment_reference"]) == (
        30000,
        "cash",
        "T-9",
    )
    # Sold Monday, valid 7 days: to Sunday 23:59:59 in Shanghai.
    assert datetime.fromisoformat(card["valid_until"]) == datetime(
        2026, 3, 8, 15, 59, 59, tzinfo=UTC
    )
    sales = session.scalar(select(func.count()).where(AuditEntry.action == "count_cards.sale"))
    assert sales == 1
    listed = client.get(f"/api/v1/members/{till['member'].id}/count-cards", headers=till["cashier"])
    assert [c["id"] for c in listed.json()] == [card["id"]]


def test_an_inactive_or_unknown_product_is_not_sold(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"], active=False)
    before = written(session)
    refused = sell(client, till, product["id"], "s-1")
    assert refused.status_code == 409
    assert refused.json()["code"] == "product_not_active"
    assert sell(client, till, 99999, "s-2").status_code == 404
    assert written(session) == before


def test_uses_count_down_to_no_uses_left_and_refusals_change_nothing(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"], uses=2)
    card = sell(client, till, product["id"], "s-1").json()
    path = f"/api/v1/count-cards/{card['id']}/uses"
    body = {"store_id": till["store"].id}
    first = post(client, path, body, till["cashier"], "u-1")
    assert first.status_code == 201, first.text
    assert first.json()["uses_left"] == 1
    assert first.json()["use"]["staff"] == till["cashier_name"]
    assert post(client, path, body, till["cashier"], "u-1").json() == first.json()
    assert post(client, path, body, till["cashier"], "u-2").json()["uses_left"] == 0
    before = written(session)
    refused = post(client, path, body, till["cashier"], "u-3")
    assert refused.status_code == 409
    assert refused.json()["code"] == "no_uses_left"
    assert written(session) == before
    detail = client.get(f"/api/v1/count-cards/{card['id']}", headers=till["cashier"]).json()
    assert (detail["status"], detail["uses_left"], len(detail["history"])) == ("used_up", 0, 2)


def test_an_expired_card_is_refused(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"], validity_days=1)
    with clock.frozen(MONDAY):
        card = sell(client, till, product["id"], "s-1").json()
    path = f"/api/v1/count-cards/{card['id']}/uses"
    body = {"store_id": till["store"].id}
    # 23:59 on Monday in Shanghai: still valid.
    with clock.frozen(datetime(2026, 3, 2, 15, 59, tzinfo=UTC)):
        assert post(client, path, body, till["cashier"], "u-1").status_code == 201
    before = written(session)
    with clock.frozen(datetime(2026, 3, 2, 16, 0, tzinfo=UTC)):
        refused = post(client, path, body, till["cashier"], "u-2")
        assert refused.status_code == 409
        assert refused.json()["code"] == "card_expired"
        shown = client.get(f"/api/v1/count-cards/{card['id']}", headers=till["cashier"]).json()
    assert shown["status"] == "expired"
    assert written(session) == before


def test_a_use_is_revoked_on_its_day_once_by_its_store(
    client: TestClient, session: Session, settings: Settings, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"], validity_days=None)
    card = sell(client, till, product["id"], "s-1").json()
    path = f"/api/v1/count-cards/{card['id']}/uses"
    body = {"store_id": till["store"].id}
    with clock.frozen(MONDAY):
        use = post(client, path, body, till["cashier"], "u-1").json()["use"]
        later = post(client, path, body, till["cashier"], "u-2").json()["use"]
    revoke = f"{path}/{use['id']}/revoke"
    elsewhere = make_store(session)
    other = staff_headers(make_staff(session, Role.store_manager, [elsewhere]), settings)
    with clock.frozen(MONDAY + timedelta(hours=10)):  # 20:00 the same day
        assert client.post(revoke, headers=other).status_code == 404
        done = client.post(revoke, headers=till["cashier"])
        assert done.status_code == 200, done.text
        assert done.json()["uses_left"] == 9
        assert done.json()["use"]["revoked_at"] is not None
        twice = client.post(revoke, headers=till["cashier"])
        assert (twice.status_code, twice.json()["code"]) == (409, "use_revoked")
    with clock.frozen(MONDAY + timedelta(hours=14)):  # 00:00 Tuesday in Shanghai
        late = client.post(f"{path}/{later['id']}/revoke", headers=till["cashier"])
        assert (late.status_code, late.json()["code"]) == (409, "revoke_window_over")
    detail = client.get(f"/api/v1/count-cards/{card['id']}", headers=till["cashier"]).json()
    assert detail["uses_left"] == 9
    revokes = session.scalar(
        select(func.count()).where(AuditEntry.action == "count_cards.use_revoke")
    )
    assert revokes == 1


def test_store_staff_act_in_their_stores_and_see_members_where_they_are(
    client: TestClient, session: Session, settings: Settings, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"])
    card = sell(client, till, product["id"], "s-1").json()
    elsewhere = make_store(session)
    stranger = staff_headers(make_staff(session, Role.cashier, [elsewhere]), settings)
    member = till["member"].id
    assert client.get(f"/api/v1/members/{member}/count-cards", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/count-cards/{card['id']}", headers=stranger).status_code == 404
    use = post(
        client, f"/api/v1/count-cards/{card['id']}/uses", {"store_id": elsewhere.id}, stranger, "u"
    )
    assert use.status_code == 404
    body = {"store_id": elsewhere.id, "product_id": product["id"], "payment": CASH}
    sale = post(client, f"/api/v1/members/{member}/count-cards", body, stranger, "s-3")
    assert sale.status_code == 404
    not_mine = post(
        client,
        f"/api/v1/count-cards/{card['id']}/uses",
        {"store_id": elsewhere.id},
        till["cashier"],
        "u-2",
    )
    assert not_mine.status_code == 422
    assert not_mine.json()["errors"][0]["code"] == "unknown_store"
    body = {"store_id": elsewhere.id, "product_id": product["id"], "payment": CASH}
    sale = post(client, f"/api/v1/members/{member}/count-cards", body, till["cashier"], "s-2")
    assert sale.status_code == 422


def test_a_use_needs_its_key_and_a_till_role(
    client: TestClient, session: Session, settings: Settings, till: dict[str, Any]
) -> None:
    product = make_product(client, till["marketing"])
    card = sell(client, till, product["id"], "s-1").json()
    path = f"/api/v1/count-cards/{card['id']}/uses"
    body = {"store_id": till["store"].id}
    assert client.post(path, json=body, headers=till["cashier"]).status_code == 422
    guide = staff_headers(make_staff(session, Role.guide, [till["store"]]), settings)
    assert post(client, path, body, guide, "g").status_code == 403


def test_a_sale_paid_from_stored_value_takes_the_price_and_names_the_card(
    client: TestClient, session: Session, till: dict[str, Any]
) -> None:
    member = till["member"]
    product = make_product(client, till["marketing"], price=20000)
    recharges.recharge(
        session, SYSTEM, member.id, None, recharges.Payment("cash", ""), amount=30000
    )
    code = codes.issue_code(session, SYSTEM, member.id).code
    path = f"/api/v1/members/{member.id}/count-cards"

    def body(**verification: str) -> dict[str, Any]:
        payment = {"method": "stored_value", "verification": verification or None}
        return {"store_id": till["store"].id, "product_id": product["id"], "payment": payment}

    before = written(session)
    missing = post(client, path, body(), till["cashier"], "s-0")
    assert (missing.status_code, missing.json()["code"]) == (422, "verification_required")
    wrong = post(client, path, body(password="999999"), till["cashier"], "s-1")
    assert (wrong.status_code, wrong.json()["code"]) == (422, "verification_failed")
    assert written(session)[:3] == before[:3]
    sold = post(client, path, body(member_code=code), till["cashier"], "s-2")
    assert sold.status_code == 201, sold.text
    assert (sold.json()["payment_method"], sold.json()["price"]) == ("stored_value", 20000)
    spend = session.scalars(select(StoredValueEntry).where(StoredValueEntry.kind == "spend")).one()
    assert (spend.principal + spend.bonus, spend.count_card_id) == (-20000, sold.json()["id"])
    short = post(client, path, body(member_code=code), till["cashier"], "s-3")
    assert (short.status_code, short.json()["code"]) == (409, "insufficient_balance")
    assert len(session.scalars(select(CountCard)).all()) == 1
    cash_with_code = {
        **body(member_code=code),
        "payment": {"method": "cash", "verification": {"member_code": code}},
    }
    assert post(client, path, cash_with_code, till["cashier"], "s-4").status_code == 422
