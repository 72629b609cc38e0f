"""The console answers odd input with a form error or an empty list, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD, SESSION_COOKIE
from patron.core.actor import Role
from patron.core.security import form_token
from patron.core.settings import Settings
from patron.staff import service as staff
from tests.factories import make_member, make_staff, make_store


@pytest.fixture
def admin(app: FastAPI, session: Session, settings: Settings) -> Iterator[TestClient]:
    """An hq_admin signed in to the console; `admin.headers["x-csrf"]` holds the form token."""
    token = staff.issue_token(make_staff(session, Role.hq_admin), settings).token
    with TestClient(app, raise_server_exceptions=False) as client:
        client.cookies.set(SESSION_COOKIE, token, path="/console")
        client.headers["x-csrf"] = form_token(settings.secret_key, token)
        yield client


def csrf(client: TestClient) -> dict[str, str]:
    return {CSRF_FIELD: client.headers["x-csrf"]}


@pytest.mark.parametrize(
    "path",
    [
        "/console/members?store=²",  # str.isdigit() says yes, int() says no
        "/console/staff?store=²",
        "/console/members?store=99999999999",
        "/console/members?to=9999-12-31",
        "/console/members?from=0001-01-01",
        "/console/orders?to=9999-12-31",
        "/console/orders?from=0001-01-01",
    ],
)
def test_odd_filters_are_ignored(admin: TestClient, path: str) -> None:
    assert admin.get(path).status_code == 200


def test_an_odd_merge_source_is_not_found(admin: TestClient, session: Session) -> None:
    target = make_member(session, make_store(session))
    url = f"/console/members/{target.id}/merge"
    assert admin.get(url, params={"source": "²"}).status_code == 422  # shown beside the field
    refused = admin.post(url, data={**csrf(admin), "source_id": "²"})
    assert refused.status_code == 422


@pytest.mark.parametrize("factor", ["sNaN", "9e999999", "NaN"])
def test_a_rule_factor_decimal_cannot_multiply_is_a_form_error(
    admin: TestClient, factor: str
) -> None:
    form = {**csrf(admin), "name": "r", "effect": "multiply", "factor": factor}
    assert admin.post("/console/points/rules/new", data=form).status_code == 422


def test_a_store_is_edited_closed_and_reopened(admin: TestClient, session: Session) -> None:
    from patron.stores.models import Store

    store = make_store(session)
    url = f"/console/stores/{store.id}"
    assert admin.get(f"{url}/edit").status_code == 200
    form = {"name": "改名后的门店", "type": "franchise", "city": "苏州", "address": "", "phone": ""}
    edited = admin.post(f"{url}/edit", data={**csrf(admin), **form}, follow_redirects=False)
    assert edited.status_code == 303
    for status in ("closed", "open"):
        changed = admin.post(
            f"{url}/status", data={**csrf(admin), "status": status}, follow_redirects=False
        )
        assert changed.status_code == 303
        session.expire_all()
        found = session.get(Store, store.id)
        assert found is not None
        assert (found.name, found.type, found.city, found.status) == (
            "改名后的门店",
            "franchise",
            "苏州",
            status,
        )
    refused = admin.post(f"{url}/edit", data={**csrf(admin), **form, "name": ""})
    assert refused.status_code == 422  # a store needs a name; shown beside the field
