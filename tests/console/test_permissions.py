"""The console's controls are the permissions the domains declare: a flag shows one of them, and a
page refuses whom that permission refuses."""

from __future__ import annotations

import importlib
from dataclasses import asdict

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.console.permissions import Permissions, flags
from patron.console.web import SESSION_COOKIE
from patron.core.actor import Actor, Role
from patron.core.settings import Settings
from patron.staff import service as staff
from patron.staff.models import StaffUser
from tests.factories import make_member, make_staff, make_store


def _actor(role: Role) -> Actor:
    return Actor(kind="staff", id=1, name=role.value, role=role, store_ids=None)


def test_every_flag_shows_a_permission_its_domain_declares() -> None:
    for flag, permission in flags().items():
        domain = permission.name.partition(".")[0]
        declared = vars(importlib.import_module(f"patron.{domain}.permissions")).values()
        assert any(permission is p for p in declared), flag


@pytest.mark.parametrize("role", list(Role))
def test_a_role_gets_the_controls_its_permissions_allow(role: Role) -> None:
    expected = {flag: role in permission.roles for flag, permission in flags().items()}
    assert asdict(Permissions.of(_actor(role))) == expected


def test_the_controls_are_those_of_before() -> None:
    manager = Permissions.of(_actor(Role.store_manager))
    assert (manager.edit_store, manager.change_store_status, manager.grant_all_stores) == (
        True,
        False,
        False,
    )
    assert (manager.assign_guides, manager.merge_members, manager.erase_members) == (
        True,
        False,
        False,
    )
    finance = Permissions.of(_actor(Role.hq_finance))
    assert (finance.write_members, finance.view_points, finance.approve_points) == (
        False,
        True,
        True,
    )


def _signed_in(app: FastAPI, settings: Settings, user: StaffUser) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set(SESSION_COOKIE, staff.issue_token(user, settings).token, path="/console")
    return client


def test_member_admin_controls_follow_the_member_policy(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    admin = _signed_in(app, settings, make_staff(session, Role.hq_admin))
    manager = _signed_in(app, settings, make_staff(session, Role.store_manager, [store]))
    url = f"/console/members/{make_member(session, store).id}"

    shown = admin.get(url).text
    assert all(f"{url}/{action}" in shown for action in ("export", "merge", "erase"))
    hidden = manager.get(url)
    assert hidden.status_code == 200
    assert not any(f"{url}/{action}" in hidden.text for action in ("export", "merge", "erase"))
    assert manager.get(f"{url}/erase").status_code == 403
    assert manager.get(f"{url}/merge").status_code == 403
