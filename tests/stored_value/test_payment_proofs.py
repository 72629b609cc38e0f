"""Review 13's stored-value findings: no secret in an idempotency fingerprint, the password
replaced only at home or HQ with the member's proof, a member code paying once, and Argon2
checked before the account lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.idempotency import IdempotencyRecord, fingerprint
from patron.core.security import hash_password
from patron.core.settings import Settings
from patron.count_cards import products
from patron.count_cards.schemas import SaleIn
from patron.members import codes
from patron.stored_value import ledger, payments, recharges
from patron.stored_value.errors import (
    MemberCodeUsed,
    StoredValueLocked,
    VerificationFailed,
)
from patron.stored_value.models import StoredValueAccount
from patron.stored_value.schemas import RechargeIn
from tests.factories import make_member, make_staff, make_store, staff_headers

T0 = datetime(2026, 3, 2, 4, 0, 30, tzinfo=UTC)
CASH = recharges.Payment("cash", "")
PASSWORD = "480213"
WASH = {"name": "洗车3次", "service": "car wash", "uses": 3, "validity_days": 30, "price": 9000}


def account(session: Session, member_id: int) -> StoredValueAccount:
    found = session.get(StoredValueAccount, member_id, populate_existing=True)
    assert found is not None
    return found


def stored_hash(session: Session, key: str) -> str:
    query = select(IdempotencyRecord.request_hash).where(IdempotencyRecord.key == key)
    return str(session.scalars(query).one())


# --- 1. secrets stay out of idempotency fingerprints ------------------------------------------


def test_a_card_sale_fingerprint_leaves_out_the_password(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=30000)
    product = products.save_product(session, SYSTEM, WASH)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    path = f"/api/v1/members/{member.id}/count-cards"

    def body(password: str) -> dict[str, Any]:
        return {
            "store_id": store.id,
            "product_id": product.id,
            "payment": {"method": "stored_value", "verification": {"password": password}},
        }

    sold = client.post(path, json=body(PASSWORD), headers={**cashier, "Idempotency-Key": "k1"})
    assert sold.status_code == 201, sold.text
    without = SaleIn.model_validate(body("000000")).model_dump(mode="json")
    assert "verification" not in without["payment"]
    scope = f"POST /members/{member.id}/count-cards"
    assert stored_hash(session, "k1") == fingerprint(scope, without)
    again = client.post(path, json=body("975310"), headers={**cashier, "Idempotency-Key": "k1"})
    assert again.status_code == 200  # a replay: the hash did not change with the password


def test_a_recharge_fingerprint_leaves_out_the_real_name(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    path = f"/api/v1/members/{member.id}/stored-value/recharges"

    def body(name: str, id_number: str) -> dict[str, Any]:
        return {
            "store_id": store.id,
            "amount": 1000,
            "payment": {"method": "cash"},
            "real_name": {"name": name, "id_number": id_number},
        }

    first = client.post(
        path, json=body("张三", "110101199003074514"), headers={**cashier, "Idempotency-Key": "r1"}
    )
    assert first.status_code == 201, first.text
    dumped = RechargeIn.model_validate(body("李四", "000000")).model_dump(mode="json")
    assert "real_name" not in dumped
    assert stored_hash(session, "r1") == fingerprint(
        f"POST /members/{member.id}/stored-value/recharges", dumped
    )


# --- 2. replacing the password ------------------------------------------------------------------


def test_another_store_cannot_set_the_password(
    client: TestClient, session: Session, settings: Settings
) -> None:
    home, elsewhere = make_store(session), make_store(session)
    member = make_member(session, home, mobile="13912345678")
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    recharges.recharge(session, SYSTEM, member.id, home.id, CASH, amount=100)
    cashier = staff_headers(make_staff(session, Role.cashier, [elsewhere]), settings)
    found = client.get("/api/v1/members", params={"mobile": "+8613912345678"}, headers=cashier)
    assert found.json()["items"][0]["id"] == member.id  # they can read the member
    path = f"/api/v1/members/{member.id}/stored-value/password"
    proof = {"password": PASSWORD}
    refused = client.put(path, json={"password": "975310", "verification": proof}, headers=cashier)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_home_store")
    payments.authorize(session, member.id, 1, payments.Verification(password=PASSWORD))


def test_replacing_the_password_needs_the_members_proof(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=100)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    path = f"/api/v1/members/{member.id}/stored-value/password"

    def put(proof: dict[str, str] | None, new: str = "975310") -> Any:
        body: dict[str, Any] = {"password": new}
        if proof is not None:
            body["verification"] = proof
        return client.put(path, json=body, headers=cashier)

    with clock.frozen(T0):
        bare = put(None)
        assert (bare.status_code, bare.json()["code"]) == (422, "verification_required")
        wrong = put({"password": "135790"})
        assert (wrong.status_code, wrong.json()["code"]) == (422, "verification_failed")
        assert account(session, member.id).failed_verifications == 1  # a guess counts
        assert put({"password": PASSWORD}).status_code == 204
        payments.authorize(session, member.id, 1, payments.Verification(password="975310"))
        code = codes.issue_code(session, SYSTEM, member.id).code
        assert put({"member_code": code}, new="264813").status_code == 204
        payments.authorize(session, member.id, 1, payments.Verification(password="264813"))


def test_a_locked_account_is_reset_by_an_hq_admin_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=100)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    admin = staff_headers(make_staff(session, Role.hq_admin, None), settings)
    path = f"/api/v1/members/{member.id}/stored-value/password"
    with clock.frozen(T0):
        for _ in range(settings.stored_value_verify_max_failures):
            with pytest.raises((VerificationFailed, StoredValueLocked)):
                payments.authorize(session, member.id, 0, payments.Verification(password="1"))
        proof = {"password": PASSWORD}
        by_till = client.put(
            path, json={"password": "975310", "verification": proof}, headers=cashier
        )
        assert (by_till.status_code, by_till.json()["code"]) == (423, "stored_value_locked")
        assert client.put(path, json={"password": "975310"}, headers=admin).status_code == 204
        assert payments.locked_until(account(session, member.id)) is None
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stored_value.password_reset")
    ).one()
    assert audit.after == {"replaced": True, "lock_cleared": True}


# --- 3. a member code pays once -------------------------------------------------------------------


def test_a_member_code_pays_only_once(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=50000)
    with clock.frozen(T0):
        code = payments.Verification(member_code=codes.issue_code(session, SYSTEM, member.id).code)
        payments.pay(session, SYSTEM, member.id, 1000, store.id, code)
        with pytest.raises(MemberCodeUsed):
            payments.pay(session, SYSTEM, member.id, 48000, store.id, code)
        assert account(session, member.id).failed_verifications == 0  # not counted as a guess
    with clock.frozen(T0 + timedelta(seconds=60)):
        with pytest.raises(MemberCodeUsed):  # still valid for TOTP, but taken
            payments.pay(session, SYSTEM, member.id, 1000, store.id, code)
        fresh = payments.Verification(member_code=codes.issue_code(session, SYSTEM, member.id).code)
        payments.pay(session, SYSTEM, member.id, 1000, store.id, fresh)
    assert account(session, member.id).principal == 48000


# --- 4. Argon2 before the account lock --------------------------------------------------------


def test_the_password_is_checked_before_the_lock(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=100)
    steps: list[str] = []
    real_verify, real_lock = payments.verify_password, ledger.lock_accounts

    def verify(stored: str, given: str) -> bool:
        steps.append("verify")
        return real_verify(stored, given)

    def lock(*args: Any, **kwargs: Any) -> Any:
        steps.append("lock")
        return real_lock(*args, **kwargs)

    monkeypatch.setattr(payments, "verify_password", verify)
    monkeypatch.setattr(ledger, "lock_accounts", lock)
    payments.authorize(session, member.id, 1, payments.Verification(password=PASSWORD))
    assert steps == ["verify", "lock"]
    steps.clear()
    with pytest.raises(VerificationFailed):
        payments.authorize(session, member.id, 1, payments.Verification(password="135790"))
    assert steps == ["verify", "lock"]
    assert account(session, member.id).failed_verifications == 1


def test_a_password_replaced_while_waiting_for_the_lock_is_checked_again(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payments.set_password(session, SYSTEM, member.id, PASSWORD)
    recharges.recharge(session, SYSTEM, member.id, store.id, CASH, amount=100)
    real_lock = ledger.lock_accounts

    def replaced_meanwhile(*args: Any, **kwargs: Any) -> Any:
        session.execute(
            update(StoredValueAccount)
            .where(StoredValueAccount.member_id == member.id)
            .values(password_hash=hash_password("975310"))
        )
        return real_lock(*args, **kwargs)

    monkeypatch.setattr(ledger, "lock_accounts", replaced_meanwhile)
    with pytest.raises(VerificationFailed):
        payments.authorize(session, member.id, 1, payments.Verification(password=PASSWORD))
    assert account(session, member.id).failed_verifications == 1
