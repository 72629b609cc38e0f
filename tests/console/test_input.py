"""The console answers odd input with a form error or an empty list, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.console.i18n import translator
from patron.console.web import CSRF_FIELD, SESSION_COOKIE
from patron.core.actor import Role
from patron.core.security import form_token
from patron.core.settings import Settings
from patron.staff import service as staff
from tests.core.test_text_input import multipart
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


# --- text no field may hold (patron.core.text) ---------------------------------------------------


def _stores(session: Session) -> int:
    from patron.stores.models import Store

    session.expire_all()
    return session.scalar(select(func.count()).select_from(Store)) or 0


def test_a_sign_in_with_a_nul_is_refused_before_any_account_is_looked_up(
    app: FastAPI, session: Session
) -> None:
    user = make_staff(session, username="clerk9")
    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.post("/console/login", data={"username": "clerk9\x00", "password": "x"})
    assert page.status_code == 422
    assert translator("zh")("error.control_character") in page.text
    assert 'name="username" value=""' in page.text  # the refused text is not echoed
    session.refresh(user)
    assert user.failed_logins == 0


def test_a_nul_in_any_posted_form_is_refused_before_the_page_reads_it(
    admin: TestClient, session: Session
) -> None:
    before = _stores(session)
    form = {"code": "NUL1", "name": "门店\x00", "type": "owned"}
    refused = admin.post("/console/stores/new", data={**csrf(admin), **form})
    assert refused.status_code == 422
    assert translator("zh")("error.control_character") in refused.text
    member = {"mobile": "13900000123", "name": "张伟", "guide": "guide\x00"}
    assert admin.post("/console/members/new", data={**csrf(admin), **member}).status_code == 422
    assert _stores(session) == before


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("门\t店", "control_character"),
        ("门店\u202e", "bidi_override"),
        ("\u200b\ufeff", "missing"),
    ],
)
def test_a_single_line_field_says_why_beside_the_field(
    admin: TestClient, session: Session, name: str, code: str
) -> None:
    before = _stores(session)
    form = {"code": "TXT1", "name": name, "type": "owned"}
    refused = admin.post("/console/stores/new", data={**csrf(admin), **form})
    assert refused.status_code == 422
    assert f'<small class="field-error">{translator("zh")(f"error.{code}")}</small>' in refused.text
    assert _stores(session) == before


@pytest.mark.parametrize("path", ["/console/stores?q=%00", "/console/members?q=a%1Bb"])
def test_a_filter_with_a_control_character_is_refused(admin: TestClient, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "q"


def test_an_upload_whose_file_name_is_not_text_is_refused_beside_the_file(
    admin: TestClient,
) -> None:
    body, headers = multipart(b"p\x1b.csv", b"sku,name\nP-FN,x\n", **csrf(admin), dry_run="on")
    page = admin.post("/console/products/import", content=body, headers=headers)
    assert page.status_code == 422
    expected = translator("zh")("error.control_character")
    assert f'<small class="field-error">{expected}</small>' in page.text
