from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.profiles import service
from patron.profiles.models import ClvFit
from tests.factories import make_member, make_order, make_staff, make_store, staff_headers

NOW = datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_profile_with_names_resolved(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store, other = make_store(session, "SH001"), make_store(session, "BJ001")
    member = make_member(session, store)
    make_order(session, store, member, occurred_at="2026-02-20T19:30:00+08:00")
    service.refresh(session, NOW)
    stranger = make_member(session, other)
    clock.set_now(NOW)
    hq = staff_headers(make_staff(session, Role.hq_marketing), settings)

    body = client.get(f"/api/v1/members/{member.id}/profile", headers=hq).json()

    assert body["orders_lifetime"] == 1
    assert body["monetary_lifetime"] == 12000
    assert body["recency_days"] == 9
    assert body["lifecycle"] == "new"
    assert body["preferred_stores"] == [{"id": store.id, "code": "SH001", "name": store.name}]
    assert {c["code"] for c in body["preferred_categories"]} == {"CARE", "HOME"}
    assert body["preferred_channels"] == ["pos"]
    assert body["preferred_hour"] == 19
    assert body["rfm"] == {"r": 1, "f": 1, "m": 1, "class": "general_winback"}
    assert set(body["clv"]) == {"p_alive", "expected_purchases_365", "clv_365"}

    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    assert client.get(f"/api/v1/members/{member.id}/profile", headers=manager).status_code == 200
    refused = client.get(f"/api/v1/members/{stranger.id}/profile", headers=manager)
    assert refused.status_code == 404
    assert refused.json()["code"] == "member_not_found"
    # Registered after the refresh: a prospect, computed on the spot.
    late = make_member(session, store)
    fresh = client.get(f"/api/v1/members/{late.id}/profile", headers=hq).json()
    assert fresh["lifecycle"] == "prospect"
    assert fresh["refreshed_at"] is None


def test_clv_model_for_hq_only(client: TestClient, session: Session, settings: Settings) -> None:
    hq = staff_headers(make_staff(session, Role.hq_finance), settings)
    missing = client.get("/api/v1/analytics/clv", headers=hq)
    assert missing.status_code == 404
    assert missing.json()["code"] == "clv_not_fitted"
    session.add(
        ClvFit(
            model="bgnbd+gamma_gamma",
            time_unit="day",
            params={"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4},
            spend_params={"p": 6.2, "q": 3.7, "gamma": 15.4},
            customers=2357,
            fitted_at=NOW,
            data_until=NOW,
        )
    )
    session.flush()
    body = client.get("/api/v1/analytics/clv", headers=hq).json()
    assert body["model"] == "bgnbd+gamma_gamma"
    assert body["time_unit"] == "day"
    assert body["params"] == {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}
    assert body["spend_params"]["gamma"] == 15.4
    assert body["customers"] == 2357
    store = make_store(session)
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    assert client.get("/api/v1/analytics/clv", headers=cashier).status_code == 403
