from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from patron.coupons.models import Coupon
from tests.factories import (
    make_coupon_template,
    make_member,
    make_staff,
    make_store,
    staff_headers,
)


@pytest.fixture
def marketing(client: TestClient, session: Session, settings: Settings) -> TestClient:
    client.headers.update(staff_headers(make_staff(session, Role.hq_marketing), settings))
    return client


def held(session: Session, template_id: int) -> int:
    query = select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id)
    return session.scalar(query) or 0


def test_issue_to_member_ids_is_idempotent(marketing: TestClient, session: Session) -> None:
    template = make_coupon_template(session, per_member_limit=1)
    a, b = make_member(session), make_member(session)
    path = f"/api/v1/coupon-templates/{template.id}/issue"
    body = {"member_ids": [a.id, b.id, 999_999]}
    first = marketing.post(path, json=body, headers={"Idempotency-Key": "i-1"})
    assert first.status_code == 201
    assert first.json() == {
        "issued": 2,
        "refused": [
            {"member_id": 999_999, "code": "member_not_found", "mobile": None, "row": None}
        ],
    }
    again = marketing.post(path, json=body, headers={"Idempotency-Key": "i-1"})
    assert (again.status_code, again.json()) == (200, first.json())
    assert held(session, template.id) == 2
    other_key = marketing.post(path, json=body, headers={"Idempotency-Key": "i-2"})
    assert other_key.json()["issued"] == 0
    assert {r["code"] for r in other_key.json()["refused"]} == {
        "limit_reached",
        "member_not_found",
    }


def test_issue_to_mobiles_names_the_mobiles_refused(
    marketing: TestClient, session: Session
) -> None:
    template = make_coupon_template(session)
    member = make_member(session, mobile="13900001111")
    response = marketing.post(
        f"/api/v1/coupon-templates/{template.id}/issue",
        json={"mobiles": ["139-0000-1111", "13900002222", "12345"]},
        headers={"Idempotency-Key": "m-1"},
    )
    assert response.json()["issued"] == 1
    refused = {(r["mobile"], r["code"]) for r in response.json()["refused"]}
    assert refused == {("13900002222", "member_not_found"), ("12345", "not_a_mobile")}
    assert session.scalar(select(Coupon.member_id).where(Coupon.template_id == template.id)) == (
        member.id
    )


def test_one_list_or_the_other(marketing: TestClient, session: Session) -> None:
    template = make_coupon_template(session)
    path = f"/api/v1/coupon-templates/{template.id}/issue"
    for body in ({}, {"member_ids": [1], "mobiles": ["13900001111"]}):
        response = marketing.post(path, json=body, headers={"Idempotency-Key": str(body)})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "members_or_mobiles"


def test_a_draft_template_issues_nothing(marketing: TestClient, session: Session) -> None:
    template = make_coupon_template(session, status="draft")
    response = marketing.post(
        f"/api/v1/coupon-templates/{template.id}/issue",
        json={"member_ids": [make_member(session).id]},
        headers={"Idempotency-Key": "d-1"},
    )
    assert (response.status_code, response.json()["code"]) == (409, "template_not_active")
    assert held(session, template.id) == 0


def test_issue_from_a_csv_file_names_refused_rows(marketing: TestClient, session: Session) -> None:
    template = make_coupon_template(session, total_stock=2)
    a, b, c = (make_member(session) for _ in range(3))
    csv = f"会员ID\n{a.id}\n\nabc\n{b.id}\n{c.id}\n".encode()
    response = marketing.post(
        f"/api/v1/coupon-templates/{template.id}/issue/upload",
        files={"file": ("list.csv", csv, "text/csv")},
        headers={"Idempotency-Key": "f-1"},
    )
    assert response.status_code == 201
    assert response.json() == {
        "issued": 2,
        "refused": [
            {"member_id": None, "code": "member_not_found", "mobile": None, "row": 4},
            {"member_id": c.id, "code": "out_of_stock", "mobile": None, "row": 6},
        ],
    }
    sources = set(
        session.scalars(select(Coupon.source_ref).where(Coupon.template_id == template.id))
    )
    assert sources == {"list.csv"}


def test_issue_from_an_excel_column_of_mobiles(marketing: TestClient, session: Session) -> None:
    template = make_coupon_template(session)
    make_member(session, mobile="13900003333")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["手机号"])
    sheet.append([13900003333])
    content = io.BytesIO()
    book.save(content)
    response = marketing.post(
        f"/api/v1/coupon-templates/{template.id}/issue/upload",
        files={"file": ("list.xlsx", content.getvalue())},
        headers={"Idempotency-Key": "x-1"},
    )
    assert response.json() == {"issued": 1, "refused": []}


def test_a_file_without_either_column_is_refused(marketing: TestClient, session: Session) -> None:
    template = make_coupon_template(session)
    response = marketing.post(
        f"/api/v1/coupon-templates/{template.id}/issue/upload",
        files={"file": ("list.csv", b"name\nx\n")},
        headers={"Idempotency-Key": "n-1"},
    )
    assert (response.status_code, response.json()["errors"][0]["code"]) == (
        422,
        "columns_missing",
    )


def test_a_store_manager_issues_from_their_store_to_its_members(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine, other = make_store(session), make_store(session)
    template = make_coupon_template(session)
    headers = staff_headers(make_staff(session, Role.store_manager, [mine]), settings)
    ours, theirs = make_member(session, mine), make_member(session, other)
    path = f"/api/v1/coupon-templates/{template.id}/issue"
    response = client.post(
        path,
        json={"member_ids": [ours.id, theirs.id], "store_id": mine.id},
        headers={**headers, "Idempotency-Key": "s-1"},
    )
    assert response.json()["issued"] == 1
    assert response.json()["refused"][0]["code"] == "member_not_found"
    elsewhere = client.post(
        path,
        json={"member_ids": [ours.id], "store_id": other.id},
        headers={**headers, "Idempotency-Key": "s-2"},
    )
    assert elsewhere.json()["errors"][0]["code"] == "unknown_store"
