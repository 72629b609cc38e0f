from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.members import importer
from patron.members import service as members
from patron.members.models import Member
from patron.stores.models import Store
from tests.factories import make_staff, make_store, staff_headers

CSV = """手机号,姓名,生日,性别,开卡门店,卡号
13800000001,张三,1990-01-02,男,IMP01,C001
+86 138-0000-0002,李四,1992/3/4,女,IMP01,
13800000003,王五,,未知,IMP02,
"""


def run(
    session: Session, content: bytes, filename: str = "members.csv", dry_run: bool = False
) -> importer.ImportReport:
    return importer.import_members(
        session, SYSTEM, importer.read_rows(content, filename), dry_run=dry_run
    )


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Member)) or 0


def stores(session: Session) -> tuple[Store, Store]:
    return make_store(session, "IMP01"), make_store(session, "IMP02")


def test_dry_run_writes_nothing(session: Session) -> None:
    stores(session)
    report = run(session, CSV.encode(), dry_run=True)
    assert (report.created, report.updated, report.skipped, report.errors) == (3, 0, 0, [])
    assert count(session) == 0


def test_import_then_reimport_is_a_no_op(session: Session) -> None:
    stores(session)
    first = run(session, CSV.encode())
    assert (first.rows, first.created, first.errors) == (3, 3, [])
    member = members.find_by_mobile(session, "+8613800000002")
    assert member is not None
    assert (member.name, member.birthday, member.gender, member.channel) == (
        "李四",
        "1992-03-04",
        "female",
        "import",
    )
    assert members.find_by_identity(session, members.IdentityType.card_no, "C001") is not None
    second = run(session, CSV.encode())
    assert (second.created, second.updated, second.skipped) == (0, 0, 3)
    assert count(session) == 3


def test_changed_rows_update(session: Session) -> None:
    stores(session)
    run(session, CSV.encode())
    report = run(session, CSV.replace("王五", "王武").encode())
    assert (report.created, report.updated, report.skipped) == (0, 1, 2)
    member = members.find_by_mobile(session, "+8613800000003")
    assert member is not None
    assert member.name == "王武"


def test_row_errors_name_row_field_and_reason(session: Session) -> None:
    stores(session)
    bad = """mobile,name,birthday,gender,store
12345,坏号码,,,
13800000009,未来人,2999-01-01,,
13800000010,无店,,,NOPE
13800000011,性别,,X,
13800000012,好人,,,IMP01
13800000012,重复,,,IMP01
"""
    report = run(session, bad.encode())
    assert [(e.row, e.field) for e in report.errors] == [
        (2, "mobile"),
        (3, "birthday"),
        (4, "store"),
        (5, "gender"),
        (7, "mobile"),
    ]
    assert report.created == 1
    assert count(session) == 1


def test_excel_and_gbk_csv(session: Session) -> None:
    stores(session)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["手机号", "姓名", "生日", "开卡门店"])
    sheet.append([13800000021, "赵六", None, "IMP01"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert run(session, buffer.getvalue(), "members.xlsx").created == 1
    gbk = "手机号,姓名\n13800000022,钱七\n".encode("gb18030")
    assert run(session, gbk).created == 1
    assert members.find_by_mobile(session, "+8613800000022").name == "钱七"  # type: ignore[union-attr]


def test_import_over_http(client: TestClient, session: Session, settings: Settings) -> None:
    stores(session)
    headers = staff_headers(make_staff(session), settings)
    files = {"file": ("members.csv", CSV.encode(), "text/csv")}
    dry = client.post("/api/v1/imports/members", files=files, headers=headers).json()
    assert dry["dry_run"] is True
    assert dry["created"] == 3
    assert count(session) == 0
    real = client.post("/api/v1/imports/members?dry_run=false", files=files, headers=headers).json()
    assert real["created"] == 3
    assert count(session) == 3


def test_store_manager_imports_only_into_their_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    own, _ = stores(session)
    manager = make_staff(session, Role.store_manager, [own])
    files = {"file": ("members.csv", CSV.encode(), "text/csv")}
    report = client.post(
        "/api/v1/imports/members?dry_run=false",
        files=files,
        headers=staff_headers(manager, settings),
    ).json()
    assert report["created"] == 2
    assert [e["field"] for e in report["errors"]] == ["store"]


def test_header_without_mobile_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    files = {"file": ("x.csv", "姓名\n张三\n".encode(), "text/csv")}
    response = client.post("/api/v1/imports/members", files=files, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"
