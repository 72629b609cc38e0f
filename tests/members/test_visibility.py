"""Reads of a member by id follow `members.visibility`: a store caller (staff of some stores, a
store's API key) reads the members registered in its stores, the members served there (an
order), and the members it found itself by an identity lookup in the last 24 hours. Any other id
answers exactly like an id nobody holds, so walking ids finds nothing; the lookups that find
members anywhere in the chain are audited. HQ reads every member."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.console.web import SESSION_COOKIE
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.ids import MAX_ROW_ID
from patron.core.settings import Settings
from patron.members import codes, identities, visibility
from patron.members.models import IdentityType, Member
from patron.members.schemas import IdentityIn
from patron.staff import service as staff
from patron.stores.models import Store
from tests.factories import (
    auth,
    make_api_key,
    make_member,
    make_order,
    make_staff,
    make_store,
    order_body,
    staff_headers,
)

MOBILE = "13912345678"
CARD = "8800123"
# Every read of one member by id, through the API.
READS = (
    "/api/v1/members/{id}",
    "/api/v1/members/{id}/points",
    "/api/v1/members/{id}/points/entries",
    "/api/v1/members/{id}/orders",
    "/api/v1/members/{id}/timeline",
    "/api/v1/members/{id}/profile",
    "/api/v1/members/{id}/consents/history",
    "/api/v1/members/{id}/guide-history",
)


@pytest.fixture
def stores(session: Session) -> tuple[Store, Store]:
    return make_store(session, "A001"), make_store(session, "B001")


@pytest.fixture
def member(session: Session, stores: tuple[Store, Store]) -> Member:
    """A member of store A, with a card."""
    found = make_member(session, stores[0], mobile=MOBILE, name="欧阳娜娜")
    identities.add_identity(
        session, SYSTEM, found, IdentityIn(type=IdentityType.card_no, value=CARD)
    )
    return found


def _callers(session: Session, settings: Settings, store: Store) -> dict[str, dict[str, str]]:
    """A cashier's and a store API key's headers, both of `store`."""
    return {
        "cashier": staff_headers(make_staff(session, Role.cashier, [store]), settings),
        "api_key": auth(make_api_key(session, [store])),
    }


def _refusal(client: TestClient, url: str, headers: dict[str, str]) -> tuple[int, str, str]:
    response = client.get(url, headers=headers)
    body = response.json()
    return response.status_code, body["code"], body["title"]


def _lookups(session: Session, member: Member) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "member.lookup", AuditEntry.entity_id == str(member.id)
            )
        )
    )


@pytest.mark.parametrize("kind", ["cashier", "api_key"])
def test_a_store_caller_walking_ids_finds_nobody_of_another_store(
    client: TestClient,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
    kind: str,
) -> None:
    headers = _callers(session, settings, stores[1])[kind]
    others = [make_member(session, stores[0]) for _ in range(3)]
    missing = MAX_ROW_ID
    for url in READS:
        nobody = _refusal(client, url.format(id=missing), headers)
        assert nobody == (404, "member_not_found", "Member not found"), url
        for walked in (member, *others):
            assert _refusal(client, url.format(id=walked.id), headers) == nobody, url
    burn = {"points": 100, "reason": "抵现"}
    refused = client.post(
        f"/api/v1/members/{member.id}/points/burns",
        json=burn,
        headers={**headers, "Idempotency-Key": "walk"},
    )
    assert (refused.status_code, refused.json()["code"]) == (404, "member_not_found")
    item = {"sku": "X", "name": "x", "quantity": 1, "unit_price": 100, "paid": 100}
    for member_id in (member.id, missing):
        preview = client.post(
            "/api/v1/points/preview",
            json={"member_id": member_id, "store_id": stores[1].id, "items": [item]},
            headers=headers,
        )
        assert preview.status_code == 422
        assert preview.json()["errors"][0]["code"] == "unknown_member"
    assert _lookups(session, member) == []


@pytest.mark.parametrize("kind", ["cashier", "api_key"])
def test_a_lookup_finds_the_member_anywhere_is_audited_and_opens_the_reads(
    client: TestClient,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
    kind: str,
) -> None:
    headers = _callers(session, settings, stores[1])[kind]
    found = client.get("/api/v1/members", params={"mobile": MOBILE}, headers=headers)
    assert [m["id"] for m in found.json()["items"]] == [member.id]
    assert found.json()["items"][0]["mobile"] == "139****5678"
    for url in READS:
        response = client.get(url.format(id=member.id), headers=headers)
        assert response.status_code == 200, (url, response.text)
    shown = client.get(f"/api/v1/members/{member.id}", headers=headers).json()
    assert shown["pii_masked"] is True
    (entry,) = _lookups(session, member)
    assert (entry.actor_type, entry.store_id, entry.after) == (
        "staff" if kind == "cashier" else "api_key",
        stores[0].id,
        {"by": "mobile"},
    )
    recorded = json.dumps([entry.before, entry.after, entry.entity_id, entry.actor_name])
    assert MOBILE not in recorded
    assert MOBILE[-4:] not in recorded


def test_every_identity_lookup_is_audited_by_kind_never_by_value(
    client: TestClient,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
) -> None:
    headers = _callers(session, settings, stores[1])["cashier"]
    code = codes.issue_code(session, SYSTEM, member.id).code
    assert client.get(f"/api/v1/member-codes/{code}", headers=headers).json()["id"] == member.id
    by_card = client.get("/api/v1/members", params={"card_no": CARD}, headers=headers)
    assert [m["id"] for m in by_card.json()["items"]] == [member.id]
    nobody = client.get("/api/v1/members", params={"card_no": "0000000"}, headers=headers)
    assert nobody.json()["items"] == []
    entries = _lookups(session, member)
    assert [e.after for e in entries] == [{"by": "member_code"}, {"by": "card_no"}]
    assert all(code not in str(e.after) and CARD not in str(e.after) for e in entries)


def test_after_an_order_in_their_store_the_reads_by_id_work(
    client: TestClient,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
) -> None:
    third = make_store(session, "C001")
    served = _callers(session, settings, stores[1])
    elsewhere = _callers(session, settings, third)
    make_order(session, stores[1], member)
    for url in READS:
        for headers in served.values():
            assert client.get(url.format(id=member.id), headers=headers).status_code == 200, url
        for headers in elsewhere.values():
            assert client.get(url.format(id=member.id), headers=headers).status_code == 404, url
    # The order they served shows; the member's orders in other stores stay theirs.
    make_order(session, stores[0], member)
    orders = client.get(f"/api/v1/members/{member.id}/orders", headers=served["cashier"]).json()
    assert {o["store_id"] for o in orders["items"]} == {stores[1].id}
    assert _lookups(session, member) == []


def test_the_till_serves_a_member_found_by_mobile(
    client: TestClient,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
) -> None:
    """The POS flow in a store the member never shopped in: look up, show points, burn, sell."""
    make_order(session, stores[0], member)
    headers = auth(make_api_key(session, [stores[1]]))
    found = client.get("/api/v1/members", params={"mobile": MOBILE}, headers=headers).json()
    member_id = found["items"][0]["id"]
    balance = client.get(f"/api/v1/members/{member_id}/points", headers=headers).json()
    assert balance["available"] == 120
    burned = client.post(
        f"/api/v1/members/{member_id}/points/burns",
        json={"points": 100, "reason": "抵现"},
        headers={**headers, "Idempotency-Key": "till-1"},
    )
    assert burned.status_code == 201, burned.text
    sold = client.post(
        "/api/v1/orders",
        json=order_body(stores[1], member_id=member_id),
        headers={**headers, "Idempotency-Key": "till-2"},
    )
    assert sold.status_code == 201, sold.text


def test_a_lookup_opens_the_reads_of_that_caller_for_a_day(
    client: TestClient,
    session: Session,
    stores: tuple[Store, Store],
    member: Member,
) -> None:
    # API keys: a staff token would expire before the day is out.
    finder, colleague = (auth(make_api_key(session, [stores[1]])) for _ in range(2))
    url = f"/api/v1/members/{member.id}/points"
    start = clock.now()
    with clock.frozen(start):
        found = client.get("/api/v1/members", params={"mobile": MOBILE}, headers=finder)
        assert found.json()["items"][0]["id"] == member.id
        assert client.get(url, headers=finder).status_code == 200
        assert client.get(url, headers=colleague).status_code == 404
    with clock.frozen(start + visibility.LOOKUP_GRANT - timedelta(seconds=1)):
        assert client.get(url, headers=finder).status_code == 200
    with clock.frozen(start + visibility.LOOKUP_GRANT + timedelta(seconds=1)):
        assert client.get(url, headers=finder).status_code == 404


def test_hq_reads_every_member_without_a_lookup(
    client: TestClient,
    session: Session,
    settings: Settings,
    member: Member,
) -> None:
    callers = [
        staff_headers(make_staff(session, role), settings)
        for role in (
            Role.hq_admin,
            Role.hq_marketing,
            Role.hq_finance,
        )
    ]
    callers.append(auth(make_api_key(session)))  # a key of every store
    for headers in callers:
        for url in READS:
            assert client.get(url.format(id=member.id), headers=headers).status_code == 200, url
    export = client.get(f"/api/v1/members/{member.id}/export", headers=callers[0])
    assert export.status_code == 200
    assert _lookups(session, member) == []


def test_the_registering_store_reads_its_members_without_a_lookup(
    client: TestClient,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
) -> None:
    for headers in _callers(session, settings, stores[0]).values():
        for url in READS:
            assert client.get(url.format(id=member.id), headers=headers).status_code == 200, url


def test_reading_is_not_managing(
    client: TestClient,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
) -> None:
    """A store that serves a member registered elsewhere reads the member but does not edit
    the profile, identities or consent: those stay with the registering store."""
    headers = _callers(session, settings, stores[1])["cashier"]
    make_order(session, stores[1], member)
    assert client.get(f"/api/v1/members/{member.id}", headers=headers).status_code == 200
    patched = client.patch(f"/api/v1/members/{member.id}", json={"name": "x"}, headers=headers)
    assert (patched.status_code, patched.json()["code"]) == (404, "member_not_found")
    consent = {"channel": "sms", "granted": True, "source": "pos"}
    put = client.put(f"/api/v1/members/{member.id}/consents", json=consent, headers=headers)
    assert put.status_code == 404


def test_readable_by_service(session: Session, stores: tuple[Store, Store], member: Member) -> None:
    cashier = staff.actor_for(session, make_staff(session, Role.cashier, [stores[1]]))
    assert not visibility.readable(session, cashier, member)
    assert visibility.look_up(session, cashier, visibility.LookupKind.card_no, CARD) == member
    assert visibility.readable(session, cashier, member)
    assert visibility.look_up(session, cashier, visibility.LookupKind.card_no, "nobody") is None


# --- the console ------------------------------------------------------------------------------


def _signed_in(app: FastAPI, settings: Settings, session: Session, store: Store) -> TestClient:
    user = make_staff(session, Role.store_manager, [store])
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set(SESSION_COOKIE, staff.issue_token(user, settings).token, path="/console")
    return client


def test_console_pages_by_id_follow_the_rule(
    app: FastAPI,
    session: Session,
    settings: Settings,
    stores: tuple[Store, Store],
    member: Member,
) -> None:
    manager_b = _signed_in(app, settings, session, stores[1])
    pages = (f"/console/members/{member.id}", f"/console/members/{member.id}/points")
    for page in pages:
        assert manager_b.get(page).status_code == 404
    listed = manager_b.get("/console/members", params={"q": "139-1234-5678"})
    assert f'href="/console/members/{member.id}"' in listed.text
    for page in pages:
        assert manager_b.get(page).status_code == 200, page
    (entry,) = _lookups(session, member)
    assert entry.after == {"by": "mobile"}
    detail = manager_b.get(pages[0]).text
    # Read, not managed: no edit, member code or adjustment forms for another store's member.
    for action in ("edit", "code", "points/adjustments", "identities"):
        assert f"/console/members/{member.id}/{action}" not in detail, action
    assert manager_b.get(f"/console/members/{member.id}/edit").status_code == 404
