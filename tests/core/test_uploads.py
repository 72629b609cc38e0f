"""Every upload, API or console, has the one cap PATRON_MAX_UPLOAD_MB sets."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD, SESSION_COOKIE
from patron.core.security import form_token
from patron.core.settings import Settings
from patron.staff import service as staff
from tests.factories import make_staff, staff_headers

MB = 1024 * 1024
API_UPLOADS = ["/api/v1/imports/members", "/api/v1/imports/products", "/api/v1/imports/orders"]
CONSOLE_UPLOADS = ["/console/members/import", "/console/products/import", "/console/orders/import"]


def upload(size: int) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("big.csv", b"x" * size, "text/csv")}


@pytest.mark.parametrize("path", API_UPLOADS)
def test_an_api_upload_past_the_cap_is_413(
    make_app: Callable[..., FastAPI], session: Session, settings: Settings, path: str
) -> None:
    headers = staff_headers(make_staff(session), settings)
    with TestClient(make_app(max_upload_mb=1)) as client:
        refused = client.post(path, files=upload(MB + 1), headers=headers)
        at_the_cap = client.post(path, files=upload(MB), headers=headers)
    assert refused.status_code == 413
    assert refused.json()["code"] == "payload_too_large"
    assert "larger than 1 MB" in refused.json()["detail"]
    assert at_the_cap.status_code == 202  # read in full and accepted; its import refuses it


@pytest.mark.parametrize("path", CONSOLE_UPLOADS)
def test_a_console_upload_past_the_cap_is_refused_beside_the_file(
    make_app: Callable[..., FastAPI], session: Session, settings: Settings, path: str
) -> None:
    token = staff.issue_token(make_staff(session), settings).token
    form = {CSRF_FIELD: form_token(settings.secret_key, token), "dry_run": "on"}
    with TestClient(make_app(max_upload_mb=1)) as client:
        client.cookies.set(SESSION_COOKIE, token, path="/console")
        refused = client.post(path, data=form, files=upload(MB + 1))
        at_the_cap = client.post(path, data=form, files=upload(MB), follow_redirects=False)
    assert refused.status_code == 413
    assert at_the_cap.status_code == 303  # accepted: on to the import's page
