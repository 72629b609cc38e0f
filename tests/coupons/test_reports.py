"""The coupon templates' report: each template's figures, its filters and who may read it, its
files, and its two queries."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.coupons import gifting, reports
from patron.coupons import jobs as coupon_jobs
from patron.coupons.models import Coupon
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.stores.models import Store
from tests.conftest import QueryCounter
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_order,
    make_staff,
    make_store,
    staff_headers,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)  # the orders occur on 2026-01-05
NEW_YEAR = datetime(2026, 1, 1, 2, tzinfo=UTC)  # 10:00 in Shanghai
URL = "/api/v1/coupon-templates/report"


@pytest.fixture(autouse=True)
def _now() -> Any:
    with clock.frozen(NOW):
        yield


class Scene:
    """满100减20 (five coupons: two redeemed, one void, one expired, one available), a ¥10
    voucher redeemed on an order later refunded in full, and a draft nobody holds."""

    def __init__(self, session: Session) -> None:
        self.a, self.b = make_store(session), make_store(session)
        ann, bob = make_member(session, self.a), make_member(session, self.b)
        self.spend = make_coupon_template(session)
        self.voucher = make_coupon_template(session, type="voucher", threshold=0, amount=1000)
        self.draft = make_coupon_template(session, status="draft")
        with clock.frozen(NEW_YEAR):
            redeemed_at_a = issue_coupon(session, self.spend, ann)
            self.voided = issue_coupon(session, self.spend, ann, store_id=self.a.id)
            redeemed_at_b = issue_coupon(session, self.spend, bob)
            voucher = issue_coupon(session, self.voucher, ann)
        with clock.frozen(datetime(2026, 1, 2, 2, tzinfo=UTC)):
            issue_coupon(session, self.spend, bob)  # left to expire
        with clock.frozen(datetime(2026, 2, 20, 2, tzinfo=UTC)):
            issue_coupon(session, self.spend, ann)  # still available
        self.order_a = redeem(session, self.a, ann, redeemed_at_a, [line("A", 15000, 2000)])
        self.order_b = redeem(
            session, self.b, bob, redeemed_at_b, [line("B1", 20000, 2000), line("B2", 10000)]
        )
        refunded = redeem(session, self.a, ann, voucher, [line("V", 5000, 1000)])
        b2 = next(ln for ln in self.order_b.lines if ln["sku"] == "B2")
        refund(session, self.order_b.id, {"items": [{"line_id": b2["id"], "quantity": 1}]})
        refund(session, refunded.id, {"all": True})  # the voucher comes back, expired
        with clock.frozen(datetime(2026, 1, 10, 2, tzinfo=UTC)):
            gifting.void_coupon(session, SYSTEM, self.voided.code, "issued by mistake")
        coupon_jobs.run(session, NOW)


def line(sku: str, price: int, discount: int = 0) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": sku,
        "category_code": "CARE",
        "quantity": 1,
        "unit_price": price,
        "discount": discount,
        "paid": price - discount,
    }


def redeem(
    session: Session, store: Store, member: Any, coupon: Coupon, items: list[dict[str, Any]]
) -> orders.TakenOrder:
    """An order of `items` at `store` taking all their discounts with `coupon`."""
    paid = sum(i["paid"] for i in items)
    claim = {"code": coupon.code, "amount": sum(i["discount"] for i in items)}
    order = make_order(
        session,
        store,
        member,
        items=items,
        payments=[{"method": "cash", "amount": paid}],
        coupons=[claim],
    )
    assert isinstance(order, orders.TakenOrder)
    return order


def refund(session: Session, order_id: int, body: dict[str, Any]) -> None:
    orders.refund_order(session, SYSTEM, order_id, RefundCreate.model_validate(body))


@pytest.fixture
def scene(session: Session) -> Scene:
    return Scene(session)


def figures(
    session: Session, filters: reports.ReportFilter | None = None
) -> dict[int, reports.TemplateFigures]:
    found = reports.template_report(session, SYSTEM, filters or reports.ReportFilter())
    return {f.template_id: f for f in found}


def counts(f: reports.TemplateFigures) -> tuple[int, ...]:
    """issued, redeemed, expired, void, available, discount given, redeeming sales"""
    return (
        f.issued,
        f.redeemed,
        f.expired,
        f.void,
        f.available,
        f.discount_given,
        f.redeeming_sales,
    )


def test_each_template_has_its_figures(session: Session, scene: Scene) -> None:
    found = figures(session)
    # the redeeming orders: 13,000 at A, and 28,000 at B less its 10,000 refunded
    assert counts(found[scene.spend.id]) == (5, 2, 1, 1, 1, 4000, 31000)
    assert found[scene.spend.id].redemption_rate == 0.4
    # redeemed on an order refunded in full: back, and expired since
    assert counts(found[scene.voucher.id]) == (1, 0, 1, 0, 0, 0, 0)
    assert found[scene.voucher.id].redemption_rate == 0
    assert counts(found[scene.draft.id]) == (0,) * 7
    assert found[scene.draft.id].redemption_rate is None
    assert list(found) == sorted(found)


def test_issue_days_select_the_coupons(session: Session, scene: Scene) -> None:
    since = figures(session, reports.ReportFilter(issued_from=date(2026, 1, 2)))
    assert counts(since[scene.spend.id]) == (2, 0, 1, 0, 1, 0, 0)
    new_year = reports.ReportFilter(issued_from=date(2026, 1, 1), issued_until=date(2026, 1, 1))
    assert counts(figures(session, new_year)[scene.spend.id]) == (3, 2, 0, 1, 0, 4000, 31000)


def test_a_store_counts_the_coupons_it_issued_or_redeemed(session: Session, scene: Scene) -> None:
    at_a = figures(session, reports.ReportFilter(store_id=scene.a.id))
    assert counts(at_a[scene.spend.id]) == (2, 1, 0, 1, 0, 2000, 13000)
    assert counts(at_a[scene.voucher.id]) == (0,) * 7  # returned: redeemed nowhere now
    at_b = figures(session, reports.ReportFilter(store_id=scene.b.id))
    assert counts(at_b[scene.spend.id]) == (1, 1, 0, 0, 0, 2000, 18000)


def test_the_report_is_two_queries_however_many_coupons(
    session: Session, scene: Scene, count_queries: QueryCounter
) -> None:
    store_id = scene.a.id
    count_queries.count = 0
    figures(session, reports.ReportFilter(store_id=store_id))
    assert count_queries.count == 2
    member = make_member(session)
    for _ in range(3):
        template = make_coupon_template(session)
        for _ in range(3):
            issue_coupon(session, template, member)
    count_queries.count = 0
    assert len(figures(session)) == 6
    assert count_queries.count == 2


def test_hq_reads_the_report_as_json(
    client: TestClient, session: Session, settings: Settings, scene: Scene
) -> None:
    headers = staff_headers(make_staff(session, Role.hq_finance), settings)
    response = client.get(URL, headers=headers, params={"issued_until": "2026-01-01"})
    assert response.status_code == 200, response.json()
    spend = next(i for i in response.json()["items"] if i["template_id"] == scene.spend.id)
    assert spend == {
        "template_id": scene.spend.id,
        "name": scene.spend.name,
        "type": "cash_off",
        "status": "active",
        "issued": 3,
        "redeemed": 2,
        "expired": 0,
        "void": 1,
        "available": 0,
        "redemption_rate": 0.6667,
        "discount_given": 4000,
        "redeeming_sales": 31000,
    }


def test_the_report_as_csv_and_xlsx(
    client: TestClient, session: Session, settings: Settings, scene: Scene
) -> None:
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    response = client.get(URL, headers=headers, params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="coupon-report-20260301-2000.csv"' in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == list(reports.COLUMNS)
    assert rows[1] == [
        str(scene.spend.id),
        scene.spend.name,
        "cash_off",
        "active",
        "5",
        "2",
        "1",
        "1",
        "1",
        "0.4",
        "4000",
        "31000",
    ]
    assert rows[3][reports.COLUMNS.index("redemption_rate")] == ""  # the draft: none issued
    response = client.get(URL, headers=headers, params={"format": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == reports.COLUMNS
    assert values[2][4:] == (1, 0, 1, 0, 0, 0, 0, 0)


def test_a_store_manager_reads_their_stores_only(
    client: TestClient, session: Session, settings: Settings, scene: Scene
) -> None:
    headers = staff_headers(make_staff(session, Role.store_manager, [scene.a]), settings)
    items = client.get(URL, headers=headers).json()["items"]
    spend = next(i for i in items if i["template_id"] == scene.spend.id)
    assert (spend["issued"], spend["redeemed"], spend["redeeming_sales"]) == (2, 1, 13000)
    response = client.get(URL, headers=headers, params={"store_id": scene.b.id})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "unknown_store"


@pytest.mark.parametrize("role", [Role.cashier, Role.guide])
def test_till_roles_may_not_read_it(
    client: TestClient, session: Session, settings: Settings, role: Role
) -> None:
    store = make_store(session)
    headers = staff_headers(make_staff(session, role, [store]), settings)
    response = client.get(URL, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_refusals(client: TestClient, session: Session, settings: Settings) -> None:
    headers = staff_headers(make_staff(session, Role.hq_admin), settings)
    reversed_days = {"issued_from": "2026-02-01", "issued_until": "2026-01-31"}
    response = client.get(URL, headers=headers, params=reversed_days)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "dates_reversed"
    response = client.get(URL, headers=headers, params={"issued_until": "0"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "not_a_date"
    response = client.get(URL, headers=headers, params={"format": "pdf"})
    assert response.status_code == 422
    response = client.get(URL)
    assert response.status_code == 401


def test_a_coupon_past_its_validity_counts_as_expired_before_the_job_runs(
    session: Session,
) -> None:
    template = make_coupon_template(session, valid_days=3)
    with clock.frozen(NEW_YEAR):
        issue_coupon(session, template, make_member(session))
    assert counts(figures(session)[template.id])[2:5] == (1, 0, 0)  # expired, void, available
    with clock.frozen(NEW_YEAR):
        assert counts(figures(session)[template.id])[2:5] == (0, 0, 1)
