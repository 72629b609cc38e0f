"""The regions pages through the test client: HQ admins create and edit regions (a refused code
beside its field, changing nothing); regional managers read their own; store managers none. The
staff pages give a regional manager regions."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD, LANG_COOKIE, SESSION_COOKIE
from patron.core.actor import Role
from patron.core.security import form_token
from patron.core.settings import Settings
from patron.staff import service as staff
from patron.staff.models import StaffUser
from patron.stores.models import Region, RegionStore
from tests.factories import make_region, make_staff, make_store

Client = Callable[..., TestClient]


def _csrf(client: TestClient) -> dict[str, str]:
    return {CSRF_FIELD: client.headers["x-csrf"]}


def _regional(app: FastAPI, session: Session, settings: Settings, region: Region) -> TestClient:
    user = make_staff(session, Role.regional_manager, regions_=[region])
    token = staff.issue_token(user, settings).token
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set(SESSION_COOKIE, token, path="/console")
    client.cookies.set(LANG_COOKIE, "en", path="/console")
    client.headers["x-csrf"] = form_token(settings.secret_key, token)
    return client


def _placed(session: Session) -> dict[int, int]:
    rows = session.execute(select(RegionStore.store_id, RegionStore.region_id))
    return {store: region for store, region in rows}


def test_admin_creates_and_edits_a_region(session: Session, signed_in: Client) -> None:
    a, b, c = make_store(session, "SH001"), make_store(session, "HZ001"), make_store(session)
    south = make_region(session, [c], code="SOUTH")
    admin = signed_in(Role.hq_admin)

    created = admin.post(
        "/console/regions/new",
        data={**_csrf(admin), "code": "EAST", "name": "华东区", "store_ids": [str(a.id)]},
        follow_redirects=False,
    )
    assert created.status_code == 303
    east = session.scalar(select(Region).where(Region.code == "EAST"))
    assert east is not None
    listed = admin.get("/console/regions").text
    assert "华东区" in listed
    assert "SH001" in listed

    form = admin.get(f"/console/regions/{east.id}/edit").text
    assert f'value="{a.id}" checked' in form
    assert south.name in form  # the store now in another region says which
    edited = admin.post(
        f"/console/regions/{east.id}/edit",
        data={
            **_csrf(admin),
            "code": "EAST",
            "name": "华东大区",
            "store_ids": [str(b.id), str(c.id)],
        },
        follow_redirects=False,
    )
    assert edited.status_code == 303
    session.expire_all()
    assert east.name == "华东大区"
    assert _placed(session) == {b.id: east.id, c.id: east.id}


def test_a_refused_region_form_changes_nothing(session: Session, signed_in: Client) -> None:
    a = make_store(session)
    east = make_region(session, [a], code="EAST")
    make_region(session, code="SOUTH")
    name = east.name
    admin = signed_in(Role.hq_admin)

    taken = admin.post(
        f"/console/regions/{east.id}/edit",
        data={**_csrf(admin), "code": "SOUTH", "name": "改名", "store_ids": []},
    )
    assert taken.status_code == 409
    assert "该区域编码已存在" in taken.text
    bad = admin.post(
        "/console/regions/new", data={**_csrf(admin), "code": "two words", "name": "西区"}
    )
    assert bad.status_code == 422
    session.expire_all()
    assert (east.code, east.name) == ("EAST", name)
    assert _placed(session) == {a.id: east.id}
    assert session.scalar(select(Region).where(Region.name == "西区")) is None


def test_who_sees_the_regions_pages(
    app: FastAPI, session: Session, settings: Settings, signed_in: Client
) -> None:
    a, b = make_store(session, "SH001"), make_store(session, "GZ001")
    east = make_region(session, [a], code="EAST")
    make_region(session, [b], code="SOUTH")

    regional = _regional(app, session, settings, east)
    page = regional.get("/console/regions")
    assert page.status_code == 200
    assert "EAST" in page.text
    assert "SOUTH" not in page.text
    assert "Regions" in page.text
    assert regional.get("/console/regions/new").status_code == 403
    assert regional.get(f"/console/regions/{east.id}/edit").status_code == 403
    stores = regional.get("/console/stores").text
    assert "SH001" in stores
    assert "GZ001" not in stores

    manager = signed_in(Role.store_manager, [a])
    assert manager.get("/console/regions").status_code == 403
    assert "/console/regions" not in manager.get("/console/stores").text


def test_the_staff_form_gives_a_regional_manager_regions(
    session: Session, signed_in: Client
) -> None:
    east = make_region(session, [make_store(session)], code="EAST")
    admin = signed_in(Role.hq_admin)
    assert 'name="region_ids"' in admin.get("/console/staff/new").text

    refused = admin.post(
        "/console/staff/new",
        data={
            **_csrf(admin),
            "username": "rm.none",
            "password": "region-pass-1",
            "role": "regional_manager",
        },
    )
    assert refused.status_code == 422
    assert "区域经理至少需要一个区域" in refused.text
    created = admin.post(
        "/console/staff/new",
        data={
            **_csrf(admin),
            "username": "rm.east",
            "password": "region-pass-1",
            "role": "regional_manager",
            "region_ids": [str(east.id)],
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    user = session.scalar(select(StaffUser).where(StaffUser.username == "rm.east"))
    assert user is not None
    assert user.region_ids == [east.id]
    assert session.scalar(select(StaffUser).where(StaffUser.username == "rm.none")) is None
    listed = admin.get("/console/staff").text
    assert east.name in listed
