"""The console's report pages through the test client, over a throwaway report registered for
the test: the index and the menu follow the reports' permission; a report's page shows its
figures (money in yuan, shares in per cent) with their change over the period before, a chart
per declaration with its table, and downloads; the filters are the actor's stores, and a
filter that is not one is named beside its input; the console home shows the overview."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.reports import registry
from patron.reports.query import ReportQuery
from patron.reports.registry import Report, Result
from patron.stores.models import Region, RegionStore
from tests.console.sample_report import day_sales, sample
from tests.factories import make_store

Client = Callable[..., TestClient]
NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
URL = "/console/reports/sample"


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture(autouse=True)
def _sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.REPORTS, "sample", sample())


def texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def chart_data(html: str) -> dict[str, object]:
    found = re.search(
        r'<script type="application/json" id="report-chart-data">(.*?)</script>', html
    )
    assert found is not None
    return json.loads(found[1])


def cards(html: str) -> dict[str, str]:
    """Each headline figure's card as text."""
    found = re.findall(
        r'<div class="card stat report-card" data-figure="(\w+)">(.*?)</div>\n', html, re.S
    )
    return {name: texts(body).strip() for name, body in found}


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


ORDERS = sum(d.day % 7 + 1 for d in days(date(2026, 5, 20), date(2026, 6, 18)))


def test_the_index_and_the_menu_follow_the_reports_permission(signed_in: Client) -> None:
    finance = signed_in(Role.hq_finance)
    page = finance.get("/console/reports")
    assert page.status_code == 200
    assert 'href="/console/reports/sample"' in page.text
    assert "Sample report" in texts(page.text)
    assert '<a href="/console/reports"' in finance.get("/console/").text

    cashier = signed_in(Role.cashier, [])
    assert cashier.get("/console/reports").status_code == 403
    assert cashier.get(URL).status_code == 403
    assert '<a href="/console/reports"' not in cashier.get("/console/").text
    assert finance.get("/console/reports/nothing-here").status_code == 404


def test_a_report_page_shows_figures_charts_tables_and_downloads(signed_in: Client) -> None:
    page = signed_in(Role.hq_admin).get(URL)
    assert page.status_code == 200
    sales = sum(day_sales(d) for d in days(date(2026, 5, 20), date(2026, 6, 18)))
    shown = cards(page.text)
    assert shown["sales"].startswith(f"销售额 {yuan(sales)}")
    assert shown["member_share"] == "会员销售占比 25.0%"
    assert shown["gini"] == "基尼系数 0.412"  # three decimals
    assert 'id="spark-sales"' in page.text
    assert "统计期间：2026-05-20 至 2026-06-18" in texts(page.text)

    data = chart_data(page.text)
    assert [c["kind"] for c in data["charts"]] == ["line", "bar", "pie", "heatmap", "lorenz"]
    assert [s["id"] for s in data["sparks"]] == ["spark-sales", "spark-orders"]
    line, _bar, pie, heatmap, lorenz = data["charts"]
    assert line["title"] == "Sales per day"  # no catalog words: the id itself
    assert line["series"] == [{"name": "sales", "label": "销售额", "unit": "yuan"}]
    assert line["rows"][0] == ["2026-05-20", day_sales(date(2026, 5, 20)) / 100]
    assert pie["rows"][0][0] == "门店收银"  # an order channel in words
    assert heatmap["y"] == {"name": "cohort", "label": "同期群"}
    assert lorenz["rows"][1] == [20.0, 62.0]  # shares in per cent

    # A table under each chart but the second of `daily` (the sparkline's is not drawn).
    tables = re.findall(r'data-testid="report-table" data-table="(\w+)"', page.text)
    assert tables == ["daily", "stores", "channels", "cohorts", "curve"]
    assert yuan(day_sales(date(2026, 5, 20))) in page.text
    assert (
        "/console/reports/sample/export?from=2026-05-20&amp;to=2026-06-18&amp;format=csv&amp;table=stores"
        in page.text
    )
    assert 'data-testid="report-xlsx"' in page.text


def test_compare_shows_the_change_over_the_period_before(signed_in: Client) -> None:
    page = signed_in(Role.hq_admin, lang="en").get(
        URL, params={"from": "2026-06-01", "to": "2026-06-10", "compare": "1"}
    )
    assert page.status_code == 200
    now = sum(day_sales(d) for d in days(date(2026, 6, 1), date(2026, 6, 10)))
    before = sum(day_sales(d) for d in days(date(2026, 5, 22), date(2026, 5, 31)))
    change = (now - before) / before
    assert change < 0
    shown = cards(page.text)
    assert shown["sales"] == f"Sales {yuan(now)} ▼ {abs(change) * 100:.1f}%"
    assert shown["member_share"] == "Member share of sales 25.0% 0.0%"  # unchanged: no arrow
    assert "compared with 2026-05-22 to 2026-05-31" in texts(page.text)
    assert f"Previous period: {yuan(before)}" in page.text


def test_a_store_manager_chooses_among_their_stores_only(
    signed_in: Client, session: Session
) -> None:
    mine, other = make_store(session, "SH010"), make_store(session, "BJ010")
    manager = signed_in(Role.store_manager, [mine])
    page = manager.get(URL)
    options = re.findall(r'<option value="(\d+)"[^>]*>(\w+) ', page.text)
    assert options == [(str(mine.id), "SH010")]
    assert chart_data(page.text)["charts"][1]["rows"] == [["SH010", ORDERS]]

    # Another store's id, typed into the URL: named beside the store input, not applied.
    refused = manager.get(URL, params={"store": other.id})
    assert refused.status_code == 200
    assert "请选择列表中的门店" in refused.text
    assert "BJ010" not in refused.text

    hq = signed_in(Role.hq_admin).get(URL, params={"store": other.id, "channel": "pos"})
    assert chart_data(hq.text)["charts"][1]["rows"] == [["BJ010", ORDERS]]
    assert re.search(r'<option value="pos" selected>', hq.text)


def test_a_region_narrows_the_stores(signed_in: Client, session: Session) -> None:
    east, west = make_store(session, "SH012"), make_store(session, "CD012")
    region = Region(code="EAST", name="华东区")
    session.add(region)
    session.flush()
    session.add(RegionStore(store_id=east.id, region_id=region.id))
    session.flush()
    admin = signed_in(Role.hq_admin)
    page = admin.get(URL, params={"region": region.id})
    assert re.search(rf'<option value="{region.id}" selected>EAST 华东区</option>', page.text)
    assert chart_data(page.text)["charts"][1]["rows"] == [["SH012", ORDERS]]
    # A region and a store outside it: no stores at all.
    apart = admin.get(URL, params={"region": region.id, "store": west.id})
    assert chart_data(apart.text)["charts"][1]["rows"] == []


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"from": "2026-13-01"}, "from", "日期格式不正确"),
        ({"to": "yesterday"}, "to", "日期格式不正确"),
        ({"from": "2026-06-10", "to": "2026-06-01"}, "to", "结束日期不能早于开始日期"),
        ({"from": "2020-01-01", "to": "2026-06-01"}, "to", "超出允许范围"),
        ({"channel": "fax"}, "channel", "请选择列表中的渠道"),
        ({"region": "12x"}, "region", "请选择列表中的区域"),
        ({"region": "999999"}, "region", "请选择列表中的区域"),
        ({"region": "99999999999"}, "region", "请选择列表中的区域"),
        ({"store": "²"}, "store", "请选择列表中的门店"),
        ({"store": "99999999999"}, "store", "请选择列表中的门店"),
        ({"from": "0001-01-01"}, "from", "日期格式不正确"),
        ({"to": "9999-12-31"}, "to", "日期格式不正确"),
    ],
)
def test_a_filter_that_is_not_one_is_named_beside_its_input(
    signed_in: Client, query: dict[str, str], field: str, message: str
) -> None:
    page = signed_in(Role.hq_admin).get(URL, params=query)
    assert page.status_code == 200
    assert "请检查并更正标出的内容" in page.text
    note = re.search(
        rf'<label class="field has-error">\s*<span class="label">[^<]*</span>\s*<(?:input|select)[^>]*name="{field}"',
        page.text,
    )
    assert note is not None
    assert message in page.text
    # The default period instead of a refused one.
    assert "统计期间：2026-05-20 至 2026-06-18" in texts(page.text)


def test_the_downloads_are_the_api_exports(signed_in: Client, session: Session) -> None:
    store = make_store(session, "SH011")
    admin = signed_in(Role.hq_admin)
    query = {"from": "2026-06-01", "to": "2026-06-03", "store": store.id}
    csv = admin.get(f"{URL}/export", params={**query, "format": "csv", "table": "daily"})
    assert csv.status_code == 200
    assert csv.text.lstrip("\ufeff").splitlines()[:2] == [
        "day,sales,orders",
        f"2026-06-01,{day_sales(date(2026, 6, 1))},2",
    ]
    assert "sample-20260601-20260603-daily" in csv.headers["content-disposition"]

    xlsx = admin.get(f"{URL}/export", params={**query, "format": "xlsx", "compare": "1"})
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert book.sheetnames == ["summary", "daily", "stores", "channels", "cohorts", "curve"]
    rows = list(book["summary"].values)
    assert rows[0] == ("figure", "value", "previous", "change")
    assert rows[1][:2] == ("sales", sum(day_sales(date(2026, 6, d)) for d in (1, 2, 3)))
    assert list(book["stores"].values) == [("store_code", "orders"), ("SH011", 9)]

    assert admin.get(f"{URL}/export", params={"table": "nope"}).status_code == 404
    assert admin.get(f"{URL}/export", params={"format": "pdf"}).status_code == 404


def test_the_home_shows_the_overview_when_it_is_declared(
    signed_in: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.REPORTS, "overview", sample("overview"))
    home = signed_in(Role.store_manager, [], lang="en").get("/console/")
    assert home.status_code == 200
    assert 'data-testid="home-overview"' in home.text
    sales = sum(day_sales(d) for d in days(date(2026, 5, 20), date(2026, 6, 18)))
    before = sum(day_sales(d) for d in days(date(2026, 4, 20), date(2026, 5, 19)))
    arrow = "▲" if sales > before else "▼"
    assert cards(home.text)["sales"].startswith(f"Sales {yuan(sales)} {arrow}")
    assert [s["id"] for s in chart_data(home.text)["sparks"]] == ["spark-sales", "spark-orders"]
    assert 'href="/console/reports/overview"' in home.text
    assert chart_data(home.text)["charts"] == []  # the dashboard draws the sparklines only

    assert 'data-testid="home-overview"' not in signed_in(Role.cashier, []).get("/console/").text
    monkeypatch.delitem(registry.REPORTS, "overview")
    assert 'data-testid="home-overview"' not in signed_in(Role.hq_admin).get("/console/").text


def one_store(session: Session, actor: Actor, query: ReportQuery) -> Result:
    if query.store_ids is None or len(query.store_ids) != 1:
        raise InvalidInput("store_id", "names one store", code=Reason.missing)
    return Result({"sales": 100})


def test_a_report_that_refuses_its_filters_says_so_beside_them(
    signed_in: Client, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.REPORTS, "one", Report("one", "One store", one_store))
    store = make_store(session, "SH013")
    admin = signed_in(Role.hq_admin)
    page = admin.get("/console/reports/one")
    assert page.status_code == 200
    assert re.search(r'<label class="field has-error">\s*<span class="label">门店', page.text)
    assert 'data-testid="report-cards"' not in page.text
    assert admin.get("/console/reports/one/export").status_code == 422

    chosen = admin.get("/console/reports/one", params={"store": store.id})
    assert cards(chosen.text)["sales"] == "销售额 ¥1.00"
