"""The console's reports in Debian's chromium against a real server, in Chinese and English: a
throwaway report whose tables feed a line, a bar, a pie, a heat-map and a Lorenz chart draws each
of them (an ECharts instance with data and a canvas with pixels on it) under the console's CSP,
with its sparklines; the console home draws the overview's sparklines; the Excel download opens
as a workbook; and every report the catalog declares draws its charts over seeded orders."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from playwright.sync_api import ConsoleMessage, Page, expect

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.reports import catalog, registry
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in
from tests.console.sample_report import sample

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin.report"
PASSWORD = "admin-password-20"
STORES = {"SH001": "上海南京西路店", "BJ001": "北京国贸店"}
# A chart is drawn when ECharts holds data for every series and its canvas has a pixel that is
# not transparent.
DRAWN = """(id) => {
  const box = document.getElementById(id);
  const chart = box && typeof echarts !== "undefined" && echarts.getInstanceByDom(box);
  if (!chart) return false;
  const series = chart.getOption().series || [];
  if (!series.length || !series.every((s) => (s.data || []).length > 0)) return false;
  const canvas = box.querySelector("canvas");
  if (!canvas || !canvas.width || !canvas.height) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-reports"),
        STORES,
        [StaffLogin(ADMIN, PASSWORD, Role.hq_admin)],
    ) as running:
        yield running


@pytest.fixture
def _sample() -> Iterator[None]:
    """The throwaway report, declared for the test (the server runs in this process)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.REPORTS, "sample", sample())
        yield


def errors_of(page: Page) -> list[str]:
    found: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(message.text)

    page.on("console", watch)
    return found


def open_in(page: Page, lang: str, path: str) -> None:
    """Sign in, choose the language, open the page."""
    sign_in(page, ADMIN, PASSWORD)
    page.goto(f"/console/lang/{lang}?next={path}")
    expect(page).to_have_url(re.compile(re.escape(path)))


def assert_drawn(page: Page, chart_id: str) -> None:
    page.wait_for_function(DRAWN, arg=chart_id, timeout=30_000)


WORDS = {
    "zh": {"nav": "报表", "sales": "销售额", "excel": "Excel", "cohort": "同期群"},
    "en": {"nav": "Reports", "sales": "Sales", "excel": "Excel", "cohort": "Cohort"},
}


@pytest.mark.usefixtures("_sample")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chart_kind_draws_in_both_languages(
    page: Page, server: ConsoleServer, lang: str
) -> None:
    errors = errors_of(page)
    words = WORDS[lang]
    open_in(page, lang, "/console/reports")
    expect(page.get_by_role("complementary").get_by_role("link", name=words["nav"])).to_have_class(
        "active"
    )
    page.get_by_role("link", name="Sample report").click()
    expect(page.get_by_role("heading", name="Sample report", level=1)).to_be_visible()
    charts = page.get_by_test_id("report-chart")
    expect(charts).to_have_count(5)
    kinds = [charts.nth(n).get_attribute("data-kind") for n in range(5)]
    assert kinds == ["line", "bar", "pie", "heatmap", "lorenz"]
    for n in range(1, 6):
        assert_drawn(page, f"chart-{n}")
    for figure in ("sales", "orders"):
        assert_drawn(page, f"spark-{figure}")
    # The words of the page's language on the cards, the tables and the charts' axes.
    sales = page.locator("[data-figure=sales]")
    expect(sales).to_contain_text(words["sales"])
    expect(sales.get_by_test_id("figure-value")).to_have_text(re.compile(r"^¥[\d,]+\.\d\d$"))
    heat = page.locator("[data-table=cohorts] thead")
    expect(heat).to_contain_text(words["cohort"])
    y_name = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-4')).getOption().yAxis[0].name"
    )
    assert y_name == words["cohort"]

    page.get_by_role("checkbox").check()
    page.get_by_role("button", name="查看" if lang == "zh" else "Show").click()
    expect(page).to_have_url(re.compile("compare=1"))
    expect(sales.get_by_test_id("figure-change")).to_have_text(re.compile(r"^[▲▼] [\d.]+%$"))
    assert_drawn(page, "chart-1")
    assert errors == []


@pytest.mark.usefixtures("_sample")
def test_the_excel_download_opens_with_its_summary(page: Page, server: ConsoleServer) -> None:
    open_in(page, "zh", "/console/reports/sample?compare=1")
    with page.expect_download() as download:
        page.get_by_test_id("report-xlsx").click()
    assert re.fullmatch(r"sample-\d{8}-\d{8}\.xlsx", download.value.suggested_filename)
    path = download.value.path()
    assert path is not None
    book = load_workbook(io.BytesIO(path.read_bytes()), read_only=True)
    assert book.sheetnames[0] == "summary"
    rows = list(book["summary"].values)
    assert rows[0] == ("figure", "value", "previous", "change")
    assert {row[0] for row in rows[1:]} >= {"sales", "orders", "member_share"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_home_draws_the_overview_sparklines(
    page: Page, server: ConsoleServer, lang: str
) -> None:
    errors = errors_of(page)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.REPORTS, "overview", sample("overview"))
        open_in(page, lang, "/console/")
        overview = page.get_by_test_id("home-overview")
        expect(overview.locator("[data-figure=sales]")).to_contain_text(WORDS[lang]["sales"])
        for figure in ("sales", "orders"):
            assert_drawn(page, f"spark-{figure}")
        overview.locator("a[href='/console/reports/overview']").click()
        expect(page.get_by_test_id("report-chart")).to_have_count(5)
    assert errors == []


# --- every report of the catalog, over seeded orders ------------------------------------------


@pytest.fixture(scope="module")
def seeded(server: ConsoleServer) -> None:
    """Members of both stores and their orders over the last 90 days, then the daily facts the
    reports read."""
    from patron.reports import facts  # lands with the reports, as the catalog's modules do

    now = clock.now()
    with server.sessions.begin() as session:
        for n in range(12):
            code = list(STORES)[n % 2]
            member = registration.register_member(
                session,
                SYSTEM,
                MemberCreate(mobile=f"139200000{n:02d}", name="测试", store_id=server.store(code)),
            )
            for k in range(1 + n % 4):
                fen = 5_000 * (1 + (n * k) % 7)
                when = now - timedelta(days=(n * 7 + k * 11) % 90)
                body = {
                    "external_id": f"SEED-{n}-{k}",
                    "store_id": server.store(code),
                    "channel": "pos" if k % 2 else "mini_program",
                    "member_id": member.id if n % 3 else None,
                    "occurred_at": when.isoformat(),
                    "items": [
                        {
                            "sku": "SKU-1",
                            "name": "围巾",
                            "quantity": 1,
                            "unit_price": fen,
                            "paid": fen,
                        }
                    ],
                    "payments": [{"method": "wechat_pay", "amount": fen}],
                }
                orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
        facts.refresh(session, now)


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("name", sorted(catalog.registry.REPORTS))
def test_every_report_of_the_catalog_draws_its_charts(
    page: Page, server: ConsoleServer, name: str
) -> None:
    errors = errors_of(page)
    report = registry.get(name)
    # The store page is one store's: HQ names the store.
    asked = f"store={server.store_ids['SH001']}" if name == "store" else "compare=1"
    open_in(page, "zh", f"/console/reports/{name}?{asked}")
    data = page.evaluate(
        "() => JSON.parse(document.getElementById('report-chart-data').textContent)"
    )
    drawn = [c for c in report.charts if c.kind.value != "sparkline"]
    assert len(data["charts"]) == len(drawn)
    for spec in data["charts"] + data["sparks"]:
        if spec["rows"]:
            assert_drawn(page, spec["id"])
        else:  # nothing in the seeded data for it: the chart's box, and its table says so
            expect(page.locator(f"#{spec['id']} canvas")).to_have_count(1)
    assert errors == []
