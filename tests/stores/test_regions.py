"""Regions (区域): HQ groups stores; a store is in one region at most, and moving it is audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core.actor import SYSTEM, Role
from patron.core.errors import Conflict, Forbidden, InvalidInput
from patron.core.settings import Settings
from patron.stores import regions
from patron.stores.models import Region, RegionStore
from patron.stores.schemas import RegionCreate, RegionStores, RegionUpdate
from patron.stores.service import RegionNotFound
from tests.factories import make_region, make_staff, make_store, staff_headers


def _placed(session: Session) -> dict[int, int]:
    rows = session.execute(select(RegionStore.store_id, RegionStore.region_id))
    return {store: region for store, region in rows}


def _entries(session: Session, action: str) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(session.scalars(query))


def test_create_list_get_and_rename(session: Session) -> None:
    a, b = make_store(session), make_store(session)
    east = regions.create_region(
        session, SYSTEM, RegionCreate(code="EAST", name="华东区", store_ids=[a.id, b.id])
    )
    south = regions.create_region(session, SYSTEM, RegionCreate(code="SOUTH", name="华南区"))
    assert [r.code for r in regions.list_regions(session, SYSTEM)] == ["EAST", "SOUTH"]
    assert regions.get_region(session, SYSTEM, east.id).store_ids == sorted([a.id, b.id])
    assert south.store_ids == []

    regions.update_region(session, SYSTEM, east.id, RegionUpdate(name="华东大区", code="E1"))
    assert (east.code, east.name) == ("E1", "华东大区")
    [entry] = _entries(session, "region.update")
    assert entry.before == {"code": "EAST", "name": "华东区"}
    assert entry.after == {"code": "E1", "name": "华东大区"}


def test_setting_stores_moves_them_from_another_region_and_audits_the_move(
    session: Session,
) -> None:
    a, b, c = make_store(session), make_store(session), make_store(session)
    east = make_region(session, [a, b])
    south = make_region(session, [c])

    regions.set_stores(session, SYSTEM, south.id, [c.id, b.id])

    assert _placed(session) == {a.id: east.id, b.id: south.id, c.id: south.id}
    [moved] = _entries(session, "store.move_region")
    assert (moved.entity_id, moved.store_id) == (str(b.id), b.id)
    assert moved.before == {"region_id": east.id}
    assert moved.after == {"region_id": south.id}
    last = _entries(session, "region.set_stores")[-1]
    assert last.before == {"store_ids": [c.id]}
    assert last.after == {"store_ids": sorted([b.id, c.id])}
    session.expire_all()
    assert session.get(Region, east.id).store_ids == [a.id]  # type: ignore[union-attr]


def test_stores_left_out_leave_the_region(session: Session) -> None:
    a, b = make_store(session), make_store(session)
    east = make_region(session, [a, b])
    regions.set_stores(session, SYSTEM, east.id, [b.id])
    assert _placed(session) == {b.id: east.id}
    regions.set_stores(session, SYSTEM, east.id, [])
    assert _placed(session) == {}


def test_setting_the_same_stores_again_writes_no_entry(session: Session) -> None:
    a = make_store(session)
    east = make_region(session, [a])
    before = len(_entries(session, "region.set_stores"))
    regions.set_stores(session, SYSTEM, east.id, [a.id, a.id])
    assert len(_entries(session, "region.set_stores")) == before
    assert _placed(session) == {a.id: east.id}


def test_refused_inputs_change_nothing(session: Session) -> None:
    a = make_store(session)
    east = make_region(session, [a], code="EAST")
    regions_before, placed_before = session.scalar(select(func.count(Region.id))), _placed(session)

    with pytest.raises(InvalidInput) as unknown:
        regions.set_stores(session, SYSTEM, east.id, [a.id, 999_999])
    assert unknown.value.extra["errors"][0]["code"] == "unknown_store"
    with pytest.raises(InvalidInput):
        regions.create_region(
            session, SYSTEM, RegionCreate(code="WEST", name="西区", store_ids=[999_999])
        )
    with pytest.raises(Conflict):
        regions.create_region(session, SYSTEM, RegionCreate(code="EAST", name="又一个"))
    with pytest.raises(InvalidInput):
        regions.update_region(session, SYSTEM, east.id, RegionUpdate.model_validate({"name": None}))
    with pytest.raises(ValidationError):
        RegionUpdate.model_validate({"code": "two words"})
    with pytest.raises(RegionNotFound):
        regions.set_stores(session, SYSTEM, 999_999, [a.id])

    assert session.scalar(select(func.count(Region.id))) == regions_before
    assert _placed(session) == placed_before


def test_only_hq_admins_change_regions(session: Session) -> None:
    east = make_region(session)
    marketing = make_staff(session, Role.hq_marketing)
    from patron.staff.service import actor_for

    actor = actor_for(session, marketing)
    assert regions.get_region(session, actor, east.id).id == east.id
    with pytest.raises(Forbidden):
        regions.update_region(session, actor, east.id, RegionUpdate(name="x"))
    with pytest.raises(Forbidden):
        regions.set_stores(session, actor, east.id, [])


# --- HTTP -------------------------------------------------------------------------------------


def test_admin_manages_regions_over_http(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    a, b = make_store(session), make_store(session)

    created = client.post(
        "/api/v1/regions", json={"code": "EAST", "name": "华东区"}, headers=headers
    )
    assert created.status_code == 201
    region = created.json()
    assert region["store_ids"] == []
    url = f"/api/v1/regions/{region['id']}"

    placed = client.put(f"{url}/stores", json={"store_ids": [b.id, a.id]}, headers=headers)
    assert placed.status_code == 200
    assert placed.json()["store_ids"] == sorted([a.id, b.id])
    assert client.get(f"/api/v1/stores/{a.id}", headers=headers).json()["region_id"] == region["id"]

    renamed = client.patch(url, json={"name": "华东大区"}, headers=headers)
    assert renamed.json()["name"] == "华东大区"
    assert client.get(url, headers=headers).json()["name"] == "华东大区"
    listed = client.get("/api/v1/regions", headers=headers).json()
    assert [(r["code"], r["store_ids"]) for r in listed] == [("EAST", sorted([a.id, b.id]))]

    client.put(f"{url}/stores", json={"store_ids": [a.id]}, headers=headers)
    stores = {
        s["id"]: s["region_id"]
        for s in client.get("/api/v1/stores", headers=headers).json()["items"]
    }
    assert stores == {a.id: region["id"], b.id: None}


def test_http_refusals_change_nothing(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    a = make_store(session)
    east = make_region(session, [a], code="EAST")
    url = f"/api/v1/regions/{east.id}"

    taken = client.post("/api/v1/regions", json={"code": "EAST", "name": "x"}, headers=headers)
    assert (taken.status_code, taken.json()["code"]) == (409, "region_code_exists")
    unknown = client.put(f"{url}/stores", json={"store_ids": [999_999]}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["code"] == "unknown_store"
    assert client.patch(url, json={"name": None}, headers=headers).status_code == 422
    assert client.patch(url, json={"code": "bad code!"}, headers=headers).status_code == 422
    assert client.put(f"{url}/stores", json={}, headers=headers).status_code == 422
    assert client.get("/api/v1/regions/999999", headers=headers).status_code == 404

    assert client.get(url, headers=headers).json()["store_ids"] == [a.id]
    assert [r["code"] for r in client.get("/api/v1/regions", headers=headers).json()] == ["EAST"]


def test_who_reads_and_who_changes_regions(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a = make_store(session)
    east, south = make_region(session, [a]), make_region(session)
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    manager = staff_headers(make_staff(session, Role.store_manager, [a]), settings)
    regional = staff_headers(make_staff(session, Role.regional_manager, regions_=[east]), settings)
    body = RegionStores(store_ids=[]).model_dump()

    assert len(client.get("/api/v1/regions", headers=finance).json()) == 2
    assert (
        client.put(f"/api/v1/regions/{east.id}/stores", json=body, headers=finance).status_code
        == 403
    )
    assert client.get("/api/v1/regions", headers=manager).status_code == 403
    # The store's answer names its region all the same.
    assert client.get(f"/api/v1/stores/{a.id}", headers=manager).json()["region_id"] == east.id

    assert [r["id"] for r in client.get("/api/v1/regions", headers=regional).json()] == [east.id]
    assert client.get(f"/api/v1/regions/{south.id}", headers=regional).status_code == 404
    assert (
        client.patch(f"/api/v1/regions/{east.id}", json={"name": "x"}, headers=regional).status_code
        == 403
    )
