from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.members import guides, identities, importer, registry
from patron.members.models import IdentityType, Member
from patron.staff.service import actor_for
from patron.stores.models import Store
from tests.conftest import QueryCounter
from tests.factories import make_member, make_staff, make_store, staff_headers
from tests.uploads import batches, report_of, upload

Sessions = Callable[[], Session]

CSV = """手机号,姓名,生日,性别,开卡门店,卡号
13800000001,张三,1990-01-02,男,IMP01,C001
+86 138-0000-0002,李四,1992/3/4,女,IMP01,
13800000003,王五,,未知,IMP02,
"""


def run(
    sessions: Sessions, content: bytes, filename: str = "members.csv", dry_run: bool = False
) -> importer.ImportReport:
    return importer.import_members(
        batches(sessions), SYSTEM, importer.read_rows(content, filename), dry_run=dry_run
    )


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Member)) or 0


def stores(session: Session) -> tuple[Store, Store]:
    return make_store(session, "IMP01"), make_store(session, "IMP02")


def test_dry_run_writes_nothing(session: Session, sessions: Sessions) -> None:
    stores(session)
    report = run(sessions, CSV.encode(), dry_run=True)
    assert (report.created, report.updated, report.skipped, report.errors) == (3, 0, 0, [])
    assert count(session) == 0


def test_import_then_reimport_is_a_no_op(session: Session, sessions: Sessions) -> None:
    stores(session)
    first = run(sessions, CSV.encode())
    assert (first.rows, first.created, first.errors) == (3, 3, [])
    member = registry.find_by_mobile(session, "+8613800000002")
    assert member is not None
    assert (member.name, member.birthday, member.gender, member.channel) == (
        "李四",
        "1992-03-04",
        "female",
        "import",
    )
    assert identities.find_by_identity(session, IdentityType.card_no, "C001") is not None
    second = run(sessions, CSV.encode())
    assert (second.created, second.updated, second.skipped) == (0, 0, 3)
    assert count(session) == 3


def test_changed_rows_update(session: Session, sessions: Sessions) -> None:
    stores(session)
    run(sessions, CSV.encode())
    report = run(sessions, CSV.replace("王五", "王武").encode())
    assert (report.created, report.updated, report.skipped) == (0, 1, 2)
    member = registry.find_by_mobile(session, "+8613800000003")
    assert member is not None
    assert member.name == "王武"


def test_row_errors_name_row_field_code_and_reason(session: Session, sessions: Sessions) -> None:
    stores(session)
    bad = """mobile,name,birthday,gender,store
12345,坏号码,,,
13800000009,未来人,2999-01-01,,
13800000010,无店,,,NOPE
13800000011,性别,,X,
13800000012,好人,,,IMP01
13800000012,重复,,,IMP01
"""
    report = run(sessions, bad.encode())
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (2, "mobile", "not_a_mobile"),
        (3, "birthday", "in_future"),
        (4, "store", "unknown_store"),
        (5, "gender", "not_a_gender"),
        (7, "mobile", "duplicate_row"),
    ]
    assert all(e.reason for e in report.errors)
    assert report.created == 1
    assert count(session) == 1


def test_excel_and_gbk_csv(session: Session, sessions: Sessions) -> None:
    stores(session)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["手机号", "姓名", "生日", "开卡门店"])
    sheet.append([13800000021, "赵六", None, "IMP01"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert run(sessions, buffer.getvalue(), "members.xlsx").created == 1
    gbk = "手机号,姓名\n13800000022,钱七\n".encode("gb18030")
    assert run(sessions, gbk).created == 1
    assert registry.find_by_mobile(session, "+8613800000022").name == "钱七"  # type: ignore[union-attr]


def test_import_over_http(client: TestClient, session: Session, settings: Settings) -> None:
    stores(session)
    headers = staff_headers(make_staff(session), settings)
    dry = report_of(upload(client, "/api/v1/imports/members", CSV.encode(), headers))
    assert dry["dry_run"] is True
    assert dry["created"] == 3
    assert count(session) == 0
    real = upload(client, "/api/v1/imports/members", CSV.encode(), headers, dry_run=False)
    assert report_of(real)["created"] == 3
    assert count(session) == 3


def test_store_manager_imports_only_into_their_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    own, _ = stores(session)
    manager = make_staff(session, Role.store_manager, [own])
    headers = staff_headers(manager, settings)
    record = upload(client, "/api/v1/imports/members", CSV.encode(), headers, dry_run=False)
    report = report_of(record)
    assert report["created"] == 2
    assert [e["field"] for e in report["errors"]] == ["store"]


def test_header_without_mobile_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    record = upload(client, "/api/v1/imports/members", "姓名\n张三\n".encode(), headers)
    assert record["status"] == "failed"
    error = record["problem"]["errors"][0]
    assert (error["field"], error["code"]) == ("file", "columns_missing")


def test_store_manager_cannot_take_over_another_stores_member(
    session: Session, sessions: Sessions
) -> None:
    own, other = stores(session)
    theirs = make_member(session, other, mobile="13911112222", name="王五")
    manager = actor_for(session, make_staff(session, Role.store_manager, [own]))
    csv = "手机号,姓名,开卡门店\n13911112222,李鬼,IMP01\n".encode()
    for dry_run in (True, False):
        report = importer.import_members(
            batches(sessions), manager, importer.read_rows(csv, "m.csv"), dry_run=dry_run
        )
        assert (report.updated, report.skipped) == (0, 0)
        assert [(e.row, e.field) for e in report.errors] == [(2, "mobile")]
    session.refresh(theirs)
    assert (theirs.name, theirs.store_id) == ("王五", other.id)


def test_each_imported_member_is_audited(session: Session, sessions: Sessions) -> None:
    run(sessions, "手机号,姓名\n13800000031,甲\n".encode())
    run(sessions, "手机号,姓名\n13800000031,乙\n13800000032,丙\n".encode())
    first = registry.find_by_mobile(session, "+8613800000031")
    second = registry.find_by_mobile(session, "+8613800000032")
    assert first is not None
    assert second is not None
    entries = session.execute(
        select(AuditEntry.action, AuditEntry.entity_id, AuditEntry.after)
        .where(AuditEntry.entity_type == "member")
        .order_by(AuditEntry.id)
    ).all()
    assert [(action, entity_id) for action, entity_id, _ in entries] == [
        ("member.register", str(first.id)),
        ("member.update", str(first.id)),
        ("member.register", str(second.id)),
    ]
    assert entries[1].after == {"fields": ["name"]}


def test_card_number_repeated_in_a_file_is_an_error_on_the_later_row(
    session: Session, sessions: Sessions
) -> None:
    csv = "手机号,姓名,卡号\n13911113331,甲,CARD-X\n13911113332,乙,CARD-X\n".encode()
    for dry_run in (True, False):
        report = run(sessions, csv, dry_run=dry_run)
        assert report.created == 1
        assert [(e.row, e.field) for e in report.errors] == [(3, "card_no")]
    assert registry.find_by_mobile(session, "+8613911113332") is None


def test_import_guide_is_store_staff_of_the_members_store(
    session: Session, sessions: Sessions
) -> None:
    own, other = stores(session)
    make_staff(session, Role.hq_finance, username="finance1")
    make_staff(session, Role.guide, [other], username="guide_other")
    guide = make_staff(session, Role.guide, [own], username="guide_own")
    csv = """手机号,姓名,开卡门店,导购
13911114441,甲,IMP01,finance1
13911114442,乙,IMP01,guide_other
13911114443,丙,IMP01,guide_own
"""
    report = run(sessions, csv.encode())
    assert [(e.row, e.field) for e in report.errors] == [(2, "guide"), (3, "guide")]
    member = registry.find_by_mobile(session, "+8613911114443")
    assert member is not None
    assert member.guide_id == guide.id


def test_import_changing_the_guide_keeps_history(session: Session, sessions: Sessions) -> None:
    store = make_store(session)
    first = make_staff(session, Role.guide, [store], username="guide_one")
    second = make_staff(session, Role.guide, [store], username="guide_two")
    member = make_member(session, store, mobile="13911115551", name="甲", guide_id=first.id)
    report = run(sessions, "手机号,姓名,导购\n13911115551,甲,guide_two\n".encode())
    assert report.updated == 1
    history = guides.guide_history(session, member.id)
    assert [(h.previous_guide_id, h.guide_id) for h in history] == [
        (None, first.id),
        (first.id, second.id),
    ]


def test_store_manager_import_defaults_to_their_only_store(
    session: Session, sessions: Sessions
) -> None:
    own, other = stores(session)
    manager = actor_for(session, make_staff(session, Role.store_manager, [own]))
    csv = "手机号,姓名\n13911119991,甲\n".encode()
    report = importer.import_members(
        batches(sessions), manager, importer.read_rows(csv, "m.csv"), False
    )
    assert report.created == 1
    member = registry.find_by_mobile(session, "+8613911119991")
    assert member is not None
    assert member.store_id == own.id
    both = actor_for(session, make_staff(session, Role.store_manager, [own, other]))
    csv = "手机号,姓名\n13911119992,乙\n".encode()
    report = importer.import_members(
        batches(sessions), both, importer.read_rows(csv, "m.csv"), False
    )
    assert [(e.row, e.field) for e in report.errors] == [(2, "store")]


def test_import_checks_email_like_the_api(session: Session, sessions: Sessions) -> None:
    csv = "手机号,姓名,邮箱\n13911110001,甲,foo@\n13911110002,乙,@\n13911110003,丙,A@B.CN\n"
    report = run(sessions, csv.encode(), dry_run=True)
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (2, "email", "not_an_email"),
        (3, "email", "not_an_email"),
    ]
    assert report.created == 1


def test_an_import_naming_guides_stays_batched(
    session: Session, sessions: Sessions, count_queries: QueryCounter
) -> None:
    store = make_store(session, "IMP01")
    make_staff(session, Role.guide, [store], username="guide_one")
    session.flush()
    header = "手机号,姓名,开卡门店,导购"
    created = [f"1391{i:07d},甲{i},IMP01,guide_one" for i in range(500)]
    renamed = [f"1391{i:07d},乙{i},IMP01,guide_one" for i in range(500)]
    for rows in (created, renamed):
        before = count_queries.count
        content = "\n".join([header, *rows]).encode()
        report = importer.import_members(
            batches(sessions), SYSTEM, importer.read_rows(content, "m.csv"), False
        )
        assert report.created + report.updated == 500
        assert count_queries.count - before < 50  # a statement per batch, not per row


def test_registered_at_takes_a_date_or_an_iso_date_time(
    session: Session, sessions: Sessions
) -> None:
    stores(session)
    csv = (
        "手机号,开卡门店,注册时间\n"
        "13911120001,IMP01,2022-01-03T09:00:00+08:00\n"
        "13911120002,IMP01,2022-01-03T01:00:00Z\n"
        "13911120003,IMP01,2022/01/03\n"
        "13911120004,IMP01,2022-01-03 09:30\n"
    )
    report = run(sessions, csv.encode())
    assert (report.created, report.errors) == (4, [])
    registered = {
        mobile: registry.find_by_mobile(session, mobile).registered_at  # type: ignore[union-attr]
        for mobile in ("+8613911120001", "+8613911120002", "+8613911120003", "+8613911120004")
    }
    shanghai = clock.business_tz()
    assert registered == {
        "+8613911120001": datetime(2022, 1, 3, 9, tzinfo=shanghai),
        "+8613911120002": datetime(2022, 1, 3, 1, tzinfo=UTC),
        "+8613911120003": datetime(2022, 1, 3, tzinfo=shanghai),
        "+8613911120004": datetime(2022, 1, 3, 9, 30, tzinfo=shanghai),
    }


def test_registered_at_in_an_excel_date_time_cell_keeps_its_time(
    session: Session, sessions: Sessions
) -> None:
    stores(session)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["手机号", "开卡门店", "注册时间"])
    sheet.append(["13911130001", "IMP01", datetime(2022, 1, 3, 9, 0)])  # noqa: DTZ001 - Excel's
    buffer = io.BytesIO()
    book.save(buffer)
    report = run(sessions, buffer.getvalue(), "members.xlsx")
    assert report.errors == []
    member = registry.find_by_mobile(session, "+8613911130001")
    assert member is not None
    assert member.registered_at == datetime(2022, 1, 3, 9, tzinfo=clock.business_tz())


def test_an_unreadable_registered_at_is_reported_under_its_own_column(
    session: Session, sessions: Sessions
) -> None:
    stores(session)
    csv = "手机号,生日,开卡门店,注册时间\n13911140001,1990-01-02,IMP01,去年春天\n"
    report = run(sessions, csv.encode())
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (2, "registered_at", "not_a_datetime")
    ]
    assert count(session) == 0


def test_imported_rows_are_stored_as_the_orm_stores_them(
    session: Session, sessions: Sessions
) -> None:
    """The import encrypts and converts values itself, a column at a time: what it writes
    reads back like what the API writes, and names the member it belongs to."""
    imp01, _ = stores(session)
    guide = make_staff(session, Role.guide, [imp01], username="guide_one")
    earlier = make_member(session, mobile="+8613800000099")
    session.flush()
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    content = (
        "手机号,姓名,生日,开卡门店,导购,卡号\n13800000041,张三丰,1990-01-02,IMP01,guide_one,C041\n"
    )
    with clock.frozen(moment):
        report = run(sessions, content.encode())
    assert (report.created, report.errors) == (1, [])
    member = registry.find_by_mobile(session, "+8613800000041")
    assert member is not None
    session.refresh(member)
    assert member.id > earlier.id
    assert (member.name, member.birthday, member.birthday_md) == ("张三丰", "1990-01-02", "01-02")
    assert (member.registered_at, member.created_at) == (moment, moment)
    assert member.code_secret is not None
    assert len(member.code_secret) == 32
    raw = session.connection().exec_driver_sql(
        f"SELECT mobile, name, birthday, code_secret FROM members WHERE id = {member.id}"
    )
    assert all(value.startswith("v1:") for value in raw.one())
    holder = identities.find_by_identity(session, IdentityType.card_no, "C041")
    assert holder is not None
    assert holder.id == member.id
    assert [i.value for i in identities.identities_of(session, member.id)] == ["C041"]
    assert [a.guide_id for a in guides.guide_history(session, member.id)] == [guide.id]
    entry = session.execute(
        select(AuditEntry).where(
            AuditEntry.entity_type == "member", AuditEntry.entity_id == str(member.id)
        )
    ).scalar_one()
    assert (entry.action, entry.created_at) == ("member.register", moment)
    assert entry.after == {"channel": "import", "store_id": imp01.id, "guide_id": guide.id}
