"""A regional manager (区域经理) is scoped to regions: they read and report on the stores of their
regions as those regions are now, and work no till."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Actor, Role
from patron.core.settings import Settings
from patron.orders.models import Order
from patron.reports import registry
from patron.reports.query import Period, ReportQuery, report_query
from patron.reports.registry import Report, Result, Table
from patron.staff import service as staff
from patron.staff.models import StaffRegionScope, StaffUser
from patron.staff.schemas import StaffUpdate
from patron.stores import regions
from patron.stores.service import RegionNotFound, StoreNotFound
from tests.conftest import QueryCounter
from tests.factories import (
    PASSWORD,
    make_member,
    make_order,
    make_region,
    make_staff,
    make_store,
    order_body,
    staff_headers,
)

JANUARY = Period(date(2026, 1, 1), date(2026, 1, 31))


def _stores_sold_at(session: Session, actor: Actor, query: ReportQuery) -> Result:
    """A report of the stores that sold in the query's stores (None: every store)."""
    sold = select(Order.store_id).distinct()
    if query.store_ids is not None:
        sold = sold.where(Order.store_id.in_(query.store_ids))
    rows = [(store,) for store in sorted(session.scalars(sold))]
    return Result({"stores": len(rows)}, [Table("stores", ("store_id",), rows)])


@pytest.fixture
def chain(session: Session) -> dict[str, object]:
    """Two regions of two stores each and a store in none, with a member and an order at each."""
    stores = [make_store(session) for _ in range(5)]
    east = make_region(session, stores[:2], code="EAST")
    south = make_region(session, stores[2:4], code="SOUTH")
    members = [make_member(session, store) for store in stores]
    for store, member in zip(stores, members, strict=True):
        make_order(session, store, member)
    return {"stores": stores, "east": east, "south": south, "members": members}


def _ids(client: TestClient, url: str, headers: dict[str, str]) -> set[int]:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["items"]}


def test_sees_exactly_their_regions_stores_members_and_orders(
    client: TestClient, session: Session, settings: Settings, chain: dict
) -> None:
    stores, members = chain["stores"], chain["members"]
    user = make_staff(session, Role.regional_manager, regions_=[chain["east"]])
    headers = staff_headers(user, settings)

    assert _ids(client, "/api/v1/stores", headers) == {s.id for s in stores[:2]}
    assert _ids(client, "/api/v1/members", headers) == {m.id for m in members[:2]}
    orders = client.get("/api/v1/orders", headers=headers).json()["items"]
    assert {o["store_id"] for o in orders} == {s.id for s in stores[:2]}
    assert client.get(f"/api/v1/members/{members[2].id}", headers=headers).status_code == 404
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert (me["role"], me["all_stores"]) == ("regional_manager", False)
    assert me["store_ids"] == sorted(s.id for s in stores[:2])
    assert me["region_ids"] == [chain["east"].id]


def test_reads_their_members_with_pii_masked(
    client: TestClient, session: Session, settings: Settings, chain: dict
) -> None:
    store = chain["stores"][0]
    member = make_member(session, store, mobile="13912345678", name="欧阳娜娜")
    headers = staff_headers(
        make_staff(session, Role.regional_manager, regions_=[chain["east"]]), settings
    )
    seen = client.get(f"/api/v1/members/{member.id}", headers=headers).json()
    assert (seen["mobile"], seen["name"]) == ("139****5678", "欧***")


def test_a_store_moved_out_of_the_region_drops_out_of_scope(
    client: TestClient, session: Session, settings: Settings, chain: dict
) -> None:
    stores, members = chain["stores"], chain["members"]
    user = make_staff(session, Role.regional_manager, regions_=[chain["east"]])
    headers = staff_headers(user, settings)
    assert members[1].id in _ids(client, "/api/v1/members", headers)

    regions.set_stores(session, SYSTEM, chain["south"].id, [stores[1].id, stores[2].id])

    assert _ids(client, "/api/v1/stores", headers) == {stores[0].id}
    assert _ids(client, "/api/v1/members", headers) == {members[0].id}
    assert client.get(f"/api/v1/members/{members[1].id}", headers=headers).status_code == 404


def test_a_report_by_region_covers_exactly_the_regions_stores(
    client: TestClient,
    session: Session,
    settings: Settings,
    chain: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stores, east, south = chain["stores"], chain["east"], chain["south"]
    monkeypatch.setitem(
        registry.REPORTS, "stores_sold", Report("stores_sold", "stores_sold", _stores_sold_at)
    )
    user = make_staff(session, Role.regional_manager, regions_=[east, south])
    headers = staff_headers(user, settings)
    params = {"from": "2026-01-01", "to": "2026-01-31"}

    def sold(**filters: int) -> list[int]:
        response = client.get(
            "/api/v1/reports/stores_sold", params=params | filters, headers=headers
        )
        assert response.status_code == 200, response.text
        return [row["store_id"] for row in response.json()["tables"]["stores"]]

    assert sold() == sorted(s.id for s in stores[:4])
    assert sold(region_id=south.id) == sorted(s.id for s in stores[2:4])
    outside = client.get(
        "/api/v1/reports/stores_sold", params=params | {"store_id": stores[4].id}, headers=headers
    )
    assert outside.status_code == 404

    actor = staff.actor_for(session, user)
    query = report_query(session, actor, JANUARY, region_id=east.id)
    assert query.store_ids == {s.id for s in stores[:2]}
    regions.set_stores(session, SYSTEM, south.id, [stores[1].id, stores[2].id, stores[3].id])
    moved = report_query(session, staff.actor_for(session, user), JANUARY, region_id=east.id)
    assert moved.store_ids == {stores[0].id}


def test_a_region_not_theirs_is_not_found(session: Session, chain: dict) -> None:
    user = make_staff(session, Role.regional_manager, regions_=[chain["east"]])
    actor = staff.actor_for(session, user)
    with pytest.raises(RegionNotFound):
        report_query(session, actor, JANUARY, region_id=chain["south"].id)
    with pytest.raises(StoreNotFound):
        report_query(session, actor, JANUARY, store_id=chain["stores"][2].id)
    # HQ reads any region's stores.
    hq = report_query(session, SYSTEM, JANUARY, region_id=chain["south"].id)
    assert hq.store_ids == {s.id for s in chain["stores"][2:4]}


def test_works_no_till_and_changes_no_member(
    client: TestClient, session: Session, settings: Settings, chain: dict
) -> None:
    stores = chain["stores"]
    headers = staff_headers(
        make_staff(session, Role.regional_manager, regions_=[chain["east"]]), settings
    )
    orders_before = session.scalar(select(func.count(Order.id)))
    sale = client.post(
        "/api/v1/orders", json=order_body(stores[0]), headers={**headers, "Idempotency-Key": "k1"}
    )
    assert sale.status_code == 403
    joined = client.post("/api/v1/members", json={"mobile": "13900001111"}, headers=headers)
    assert joined.status_code == 403
    assert (
        client.post(
            "/api/v1/stores", json={"code": "X1", "name": "x", "type": "owned"}, headers=headers
        ).status_code
        == 403
    )
    assert session.scalar(select(func.count(Order.id))) == orders_before


def test_building_the_actor_costs_one_query_more_for_this_role_only(
    session: Session, settings: Settings, chain: dict, count_queries: QueryCounter
) -> None:
    manager = make_staff(session, Role.store_manager, chain["stores"][:1])
    regional = make_staff(session, Role.regional_manager, regions_=[chain["east"]])
    costs = []
    for user in (manager, regional):
        token = staff.issue_token(user, settings).token
        session.expunge_all()
        before = count_queries.count
        assert staff.actor_for_token(session, settings, token) is not None
        costs.append(count_queries.count - before)
    assert costs[1] == costs[0] + 1


# --- creating and editing them ----------------------------------------------------------------


def _count_staff(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count(StaffUser.id))) or 0,
        session.scalar(select(func.count()).select_from(StaffRegionScope)) or 0,
    )


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"role": "regional_manager"}, "region_ids", "regions_missing"),
        ({"role": "regional_manager", "region_ids": [999_999]}, "region_ids", "unknown_region"),
        (
            {"role": "cashier", "store_ids": "s", "region_ids": "r"},
            "region_ids",
            "regions_not_allowed",
        ),
        (
            {"role": "hq_marketing", "all_stores": True, "region_ids": "r"},
            "region_ids",
            "regions_not_allowed",
        ),
        (
            {"role": "regional_manager", "all_stores": True, "region_ids": "r"},
            "all_stores",
            "stores_conflict",
        ),
        (
            {"role": "regional_manager", "store_ids": "s", "region_ids": "r"},
            "store_ids",
            "stores_conflict",
        ),
    ],
)
def test_refused_scopes_create_nobody(
    client: TestClient,
    session: Session,
    settings: Settings,
    body: dict,
    field: str,
    code: str,
) -> None:
    store = make_store(session)
    region = make_region(session, [store])
    headers = staff_headers(make_staff(session), settings)
    given = {
        key: [store.id] if value == "s" else [region.id] if value == "r" else value
        for key, value in body.items()
    }
    before = _count_staff(session)
    response = client.post(
        "/api/v1/staff",
        json={"username": "rm.east", "password": PASSWORD, **given},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == (field, code)
    assert _count_staff(session) == before


def test_created_over_http_and_changed_to_another_role(
    client: TestClient, session: Session, settings: Settings, chain: dict
) -> None:
    headers = staff_headers(make_staff(session), settings)
    east, south, stores = chain["east"], chain["south"], chain["stores"]
    created = client.post(
        "/api/v1/staff",
        json={
            "username": "rm.east",
            "password": PASSWORD,
            "role": "regional_manager",
            "region_ids": [east.id],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["region_ids"], user["store_ids"], user["all_stores"]) == ([east.id], [], False)
    url = f"/api/v1/staff/{user['id']}"

    both = client.patch(url, json={"region_ids": [east.id, south.id]}, headers=headers)
    assert both.json()["region_ids"] == sorted([east.id, south.id])
    refused = client.patch(url, json={"store_ids": [stores[0].id]}, headers=headers)
    assert refused.status_code == 422
    assert client.get(url, headers=headers).json()["region_ids"] == sorted([east.id, south.id])

    manager = client.patch(
        url, json={"role": "store_manager", "store_ids": [stores[4].id]}, headers=headers
    )
    assert manager.status_code == 200, manager.text
    assert (manager.json()["region_ids"], manager.json()["store_ids"]) == ([], [stores[4].id])
    listed = client.get("/api/v1/staff", params={"role": "store_manager"}, headers=headers)
    assert user["id"] in {u["id"] for u in listed.json()["items"]}


def test_store_managers_neither_see_nor_make_regional_managers(
    client: TestClient, session: Session, settings: Settings, chain: dict
) -> None:
    stores, east = chain["stores"], chain["east"]
    regional = make_staff(session, Role.regional_manager, regions_=[east])
    headers = staff_headers(make_staff(session, Role.store_manager, stores[:1]), settings)
    assert client.get(f"/api/v1/staff/{regional.id}", headers=headers).status_code == 404
    made = client.post(
        "/api/v1/staff",
        json={
            "username": "rm.sneaky",
            "password": PASSWORD,
            "role": "regional_manager",
            "region_ids": [east.id],
        },
        headers=headers,
    )
    assert made.status_code == 403
    assert staff.find_by_username(session, "rm.sneaky") is None


def test_update_in_the_service_keeps_the_scope_unless_given(session: Session, chain: dict) -> None:
    user = make_staff(session, Role.regional_manager, regions_=[chain["east"]])
    staff.update_staff(session, SYSTEM, user.id, StaffUpdate(display_name="华东区经理"))
    assert user.region_ids == [chain["east"].id]
    staff.update_staff(session, SYSTEM, user.id, StaffUpdate(role=Role.hq_finance))
    assert (user.region_ids, user.all_stores) == ([], True)
