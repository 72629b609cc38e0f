from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from patron.orders import importer
from patron.orders.models import Order, OrderLine, OrderPayment
from tests.factories import make_member, make_staff, make_store, staff_headers
from tests.uploads import batches, report_of, upload

Sessions = Callable[[], Session]

HISTORY = """门店编码,订单号,下单时间,会员手机号,商品编码,商品名称,品类编码,数量,单价,优惠,实付,支付方式
IMP01,A-1,2025-06-18 10:00:00,13800000001,SKU-1,洗发水,CARE,2,49.90,9.80,90.00,微信
IMP01,A-1,2025-06-18 10:00:00,13800000001,SKU-2,毛巾,HOME,3,10,0,30,现金
IMP01,A-2,2025-06-19 11:30:00,,SKU-2,毛巾,HOME,1,10,0,10,支付宝
"""


def run(
    sessions: Sessions, text: str, dry_run: bool = False, size: int = 1000
) -> importer.OrderImportReport:
    rows = importer.read_rows(text.encode(), "orders.csv")
    return importer.import_orders(batches(sessions, size), SYSTEM, rows, dry_run=dry_run)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_import_groups_lines_and_is_idempotent(session: Session, sessions: Sessions) -> None:
    store = make_store(session, "IMP01")
    member = make_member(session, store, mobile="13800000001")
    dry = run(sessions, HISTORY, dry_run=True)
    assert (dry.orders, dry.created, dry.lines, dry.errors) == (2, 2, 3, [])
    assert count(session, Order) == 0
    report = run(sessions, HISTORY)
    assert (report.rows, report.orders, report.created, report.lines) == (3, 2, 2, 3)
    first = session.scalar(select(Order).where(Order.external_id == "A-1"))
    assert first is not None
    assert (first.total, first.member_id, first.store_id) == (12000, member.id, store.id)
    assert first.occurred_at.isoformat() == "2025-06-18T02:00:00+00:00"
    payments = {
        p.method: p.amount
        for p in session.scalars(select(OrderPayment).where(OrderPayment.order_id == first.id))
    }
    assert payments == {"wechat_pay": 9000, "cash": 3000}
    again = run(sessions, HISTORY)
    assert (again.created, again.skipped) == (0, 2)
    assert count(session, OrderLine) == 3


def test_bad_rows_drop_their_order_and_are_reported(session: Session, sessions: Sessions) -> None:
    make_store(session, "IMP01")
    bad = (
        HISTORY
        + "\n".join(
            [
                "IMP01,B-1,2025-06-20 10:00:00,,SKU-3,杯子,HOME,2,10,0,25,现金",
                "IMP01,B-1,2025-06-20 10:00:00,,SKU-4,碗,HOME,1,5,0,5,现金",
                "NOPE,C-1,2025-06-20 10:00:00,,SKU-3,杯子,HOME,1,10,0,10,现金",
                "IMP01,D-1,2999-01-01 10:00:00,,SKU-3,杯子,HOME,1,10,0,10,现金",
                "IMP01,A-1,2025-06-18 10:00:00,,SKU-9,杂项,HOME,1,1,0,1,现金",
            ]
        )
        + "\n"
    )
    report = run(sessions, bad)
    assert [(e["row"], e["field"]) for e in report.errors if e["field"] != "mobile"] == [
        (2, "external_id"),  # A-1's rows are apart (2-3 and 9): neither part is loaded
        (5, "paid"),
        (7, "store"),
        (8, "occurred_at"),
        (9, "external_id"),
    ]
    assert report.created == 1
    assert {o for o in session.scalars(select(Order.external_id))} == {"A-2"}


def test_an_order_whose_rows_are_apart_is_dropped_whole(
    session: Session, sessions: Sessions
) -> None:
    make_store(session, "IMP01")
    head, *rows = HISTORY.strip().splitlines()
    apart = "\n".join([head, rows[0], rows[2], rows[1]]) + "\n"
    for dry_run in (True, False):
        report = run(sessions, apart, dry_run=dry_run)
        assert (report.created, report.lines) == (1, 1)
        apart_rows = {
            "field": "external_id",
            "code": "rows_not_together",
            "reason": "rows of this order are not together in the file",
        }
        assert report.errors == [{"row": 2, **apart_rows}, {"row": 4, **apart_rows}]
    assert session.scalar(select(Order.external_id)) == "A-2"
    fixed = run(sessions, HISTORY)  # the corrected file loads A-1 whole
    assert (fixed.created, fixed.skipped) == (1, 1)
    assert session.scalar(select(Order.total).where(Order.external_id == "A-1")) == 12000


def test_unknown_mobile_keeps_the_order_without_member(
    session: Session, sessions: Sessions
) -> None:
    make_store(session, "IMP01")
    report = run(sessions, HISTORY)
    assert [e["field"] for e in report.errors] == ["mobile"]
    assert session.scalar(select(Order.member_id).where(Order.external_id == "A-1")) is None


def test_import_over_http(client: TestClient, session: Session, settings: Settings) -> None:
    make_store(session, "IMP01")
    headers = staff_headers(make_staff(session), settings)
    dry = upload(client, "/api/v1/imports/orders", HISTORY.encode(), headers, "orders.csv")
    assert (dry["dry_run"], dry["kind"], dry["filename"]) == (True, "orders", "orders.csv")
    assert report_of(dry)["created"] == 2
    assert count(session, Order) == 0
    real = upload(client, "/api/v1/imports/orders", HISTORY.encode(), headers, dry_run=False)
    assert (real["rows_done"], real["rows_total"]) == (3, 3)
    assert report_of(real)["created"] == 2
    assert count(session, Order) == 2


ROW = "IMP01,Z-1,2025-06-18 10:00:00,,SKU-1,杯子,CARE,{quantity},{price},0,{paid},现金"


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ([ROW.format(quantity=3_000_000_000, price=0, paid=0)], (2, "quantity", "out_of_range")),
        (
            [ROW.format(quantity=1_000_001, price=0.01, paid=10000.01)],
            (2, "quantity", "out_of_range"),
        ),
        (
            [ROW.format(quantity=1, price=20_000_000, paid=20_000_000)] * 2,
            (3, "paid", "order_total_too_large"),
        ),
        ([ROW.format(quantity=1, price=0, paid=0)], (2, "paid", "order_total_zero")),
        (
            [ROW.format(quantity=1, price=10, paid=10).replace("CARE", "C" * 33)],
            (2, "category_code", "too_long"),
        ),
        (
            [ROW.format(quantity=1, price=10, paid=10).replace("2025", "0001")],
            (2, "occurred_at", "out_of_range"),
        ),
        (
            [ROW.format(quantity=1, price="1e999999", paid=10)],
            (2, "unit_price", "not_an_amount"),
        ),
    ],
    ids=[
        "quantity_int32",
        "quantity_cap",
        "total_int32",
        "total_zero",
        "category_code",
        "year_one",
        "decimal_overflow",
    ],
)
def test_values_live_intake_refuses_are_row_errors(
    session: Session, sessions: Sessions, rows: list[str], error: tuple[int, str, str]
) -> None:
    make_store(session, "IMP01")
    text = HISTORY.splitlines()[0] + "\n" + "\n".join(rows) + "\n"
    for dry_run in (True, False):
        report = run(sessions, text, dry_run=dry_run)
        found = [(e["row"], e["field"], e["code"]) for e in report.errors]
        assert (report.created, found) == (0, [error])
    assert count(session, Order) == 0


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00\x01garbage\x80\x81", HISTORY.replace("毛巾", "巾" * 140_000).encode()],
    ids=["not_utf8_or_gb18030", "field_over_csv_limit"],
)
def test_an_unreadable_csv_is_a_problem(
    client: TestClient, session: Session, settings: Settings, content: bytes
) -> None:
    make_store(session, "IMP01")
    headers = staff_headers(make_staff(session), settings)
    record = upload(client, "/api/v1/imports/orders", content, headers, dry_run=False)
    assert (record["status"], record["report"]) == ("failed", None)
    problem = record["problem"]
    assert (problem["status"], problem["code"]) == (422, "validation_error")
    error = problem["errors"][0]
    assert (error["field"], error["code"]) == ("file", "file_unreadable")
    assert count(session, Order) == 0


def test_rows_that_can_be_read_once_still_load(session: Session, sessions: Sessions) -> None:
    make_store(session, "IMP01")
    once = iter(list(importer.read_rows(HISTORY.encode(), "orders.csv")))
    report = importer.import_orders(batches(sessions), SYSTEM, once, dry_run=False)
    assert (report.rows, report.created) == (3, 2)


def test_a_row_paid_by_points_is_refused_for_history_burns_no_points(
    session: Session, sessions: Sessions
) -> None:
    """Imported history is not a live burn, and no order records points paid without its burn:
    a 积分 row is refused (its order with it), and loads as 其他."""
    make_store(session, "IMP01")
    make_member(session, mobile="13800000001")
    by_points = HISTORY.replace("30,现金", "30,积分")
    report = run(sessions, by_points)
    assert [(e["row"], e["code"]) for e in report.errors] == [(3, "points_not_imported")]
    assert {o for o in session.scalars(select(Order.external_id))} == {"A-2"}
    assert run(sessions, HISTORY.replace("30,现金", "30,其他")).created == 1
    assert session.scalar(select(func.count()).where(OrderPayment.method == "points")) == 0
