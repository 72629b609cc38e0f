"""Every file Patron exports goes through `core.export`: a value that a spreadsheet would run as a
formula (=, +, -, @, a tab or a carriage return first) arrives as text, in CSV behind an
apostrophe and in .xlsx as a string cell with the quote prefix; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.console import catalog_pages
from patron.console.web import LANG_COOKIE, SESSION_COOKIE
from patron.core import export
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.staff import service as staff
from tests.factories import make_staff
from tests.uploads import batches

FORMULAS = ("=CMD()", "+1+1", "-1+1", "@SUM(1+1)", "\t=1+1", "\r=1+1", "＝1+1", '=HYPERLINK("x")')
PLAIN = ("CMD()", "1+1", "洗发水 =1", "'=already", " =1+1", "")


def _csv(header: list[str], rows: list[list[export.Cell]]) -> str:
    out = io.StringIO(newline="")
    export.write_csv(out, header, rows)
    return out.getvalue()


def _csv_rows(text: str) -> list[list[str]]:
    assert text.startswith(export.UTF8_BOM)
    return list(csv.reader(io.StringIO(text.removeprefix(export.UTF8_BOM), newline="")))


def _xlsx(header: list[str], rows: list[list[export.Cell]]) -> list[list[object]]:
    out = io.BytesIO()
    export.write_xlsx(out, header, rows, "test")
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet is not None
    return [[cell for cell in row] for row in sheet.iter_rows()]


def test_formulas_become_text_in_csv_and_numbers_stay_numbers() -> None:
    rows: list[list[export.Cell]] = [[value, 1250, Decimal("12.50"), None] for value in FORMULAS]
    rows += [[value, -3, Decimal("-0.01"), None] for value in PLAIN]
    read = _csv_rows(_csv(["name", "fen", "yuan", "none"], rows))
    assert read[0] == ["name", "fen", "yuan", "none"]
    for value, row in zip(FORMULAS, read[1 : len(FORMULAS) + 1], strict=True):
        assert row == ["'" + value, "1250", "12.50", ""]
    for value, row in zip(PLAIN, read[len(FORMULAS) + 1 :], strict=True):
        assert row == [value, "-3", "-0.01", ""]


def test_formulas_become_text_cells_in_xlsx_and_numbers_stay_numbers() -> None:
    rows: list[list[export.Cell]] = [[value, 1250, Decimal("12.50")] for value in FORMULAS]
    rows += [[value, -3, None] for value in PLAIN if value]
    cells = _xlsx(["=name", "fen", "yuan"], rows)
    header, *body = cells
    assert [(c.value, c.data_type, c.quotePrefix) for c in header[:1]] == [("=name", "s", True)]
    for value, row in zip(FORMULAS, body[: len(FORMULAS)], strict=True):
        text, fen, yuan = row
        assert (text.value, text.data_type, text.quotePrefix) == (
            value.replace("\r", "\n"),  # XML reads a carriage return as a line feed
            "s",
            True,
        )
        assert (fen.value, fen.data_type, yuan.value, yuan.data_type) == (1250, "n", 12.5, "n")
    for value, row in zip([p for p in PLAIN if p], body[len(FORMULAS) :], strict=True):
        assert (row[0].value, row[0].data_type, row[0].quotePrefix) == (value, "s", False)
        assert (row[1].value, row[2].value) == (-3, None)


def test_control_characters_do_not_break_the_workbook() -> None:
    ((cell,),) = _xlsx(["x\x00y"], [])
    assert (cell.value, cell.data_type) == ("x\ufffdy", "s")


@given(st.text())
def test_the_escaped_text_is_never_a_formula_and_keeps_the_value(text: str) -> None:
    escaped = export.escape(text)
    assert not export.risky(escaped)
    assert escaped == ("'" + text if export.risky(text) else text)
    read = _csv_rows(_csv(["h"], [[text]]))
    assert read[1:] == [[escaped]]


@given(st.text(max_size=40))
def test_no_xlsx_text_cell_is_a_formula(text: str) -> None:
    ((cell,),) = _xlsx([text], [])
    expected = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text).replace("\r\n", "\n").replace("\r", "\n")
    assert cell.data_type == "s" or (text == "" and cell.value is None)
    assert cell.value in (expected, None if text == "" else expected)
    assert cell.quotePrefix == export.risky(ILLEGAL_CHARACTERS_RE.sub("\ufffd", text))


# --- the exports --------------------------------------------------------------------------------


def _console(app: FastAPI, session: Session, settings: Settings, lang: str) -> TestClient:
    client = TestClient(app)
    user = make_staff(session, Role.cashier)
    client.cookies.set(SESSION_COOKIE, staff.issue_token(user, settings).token, path="/console")
    client.cookies.set(LANG_COOKIE, lang)
    return client


def _import_products(sessions: Callable[[], Session]) -> None:
    lines = ["sku,name,category_code,list_price"]
    lines += [f'F{n},"{name}",GEN,12.50' for n, name in enumerate(FORMULAS[:4])]
    lines.append("P1,洗发水,GEN,39.90")
    report = catalog.import_products(
        batches(sessions), SYSTEM, "\n".join(lines).encode(), "p.csv", dry_run=False
    )
    assert (report.created, report.errors) == (5, [])


def test_an_imported_product_named_like_a_formula_exports_as_text(
    app: FastAPI, session: Session, sessions: Callable[[], Session], settings: Settings
) -> None:
    _import_products(sessions)
    client = _console(app, session, settings, "en")
    response = client.get("/console/products/export", params={"format": "csv", "q": "f"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="products-')
    rows = _csv_rows(response.content.decode("utf-8"))
    assert rows[0] == ["sku", "name", "category_code", "list_price", "member_price", "status"]
    assert sorted(rows[1:]) == sorted(
        [f"F{n}", "'" + name, "GEN", "12.50", "", "active"] for n, name in enumerate(FORMULAS[:4])
    )
    xlsx = client.get("/console/products/export", params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    names = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2)}
    assert {sku: (c.value, c.data_type, c.quotePrefix) for sku, c in names.items()} == {
        **{f"F{n}": (name, "s", True) for n, name in enumerate(FORMULAS[:4])},
        "P1": ("洗发水", "s", False),
    }
    prices = [row[3].value for row in sheet.iter_rows(min_row=2)]
    assert sorted(prices) == [12.5] * 4 + [39.9]


def test_the_xlsx_export_reads_back_as_the_same_products(
    app: FastAPI,
    session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the page's language, with the import's own headers: the file re-imports unchanged."""
    monkeypatch.setattr(catalog_pages, "EXPORT_BATCH", 2)  # read in several pages
    _import_products(sessions)
    client = _console(app, session, settings, "zh")
    xlsx = client.get("/console/products/export", params={"format": "xlsx"})
    report = catalog.import_products(batches(sessions), SYSTEM, xlsx.content, "p.xlsx", True)
    assert (report.rows, report.skipped, report.errors) == (5, 5, [])
    assert client.get("/console/products/export", params={"format": "pdf"}).status_code == 404
