"""Uploaded tables within limits: spreadsheet bombs and files past the row limit are refused
before a row is read, and a workbook is streamed, never padded to the size it claims."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

import pytest
from openpyxl import Workbook

from patron.core.errors import InvalidInput
from patron.core.tabular import MB, FileLimits, RefusedCell, measure, read_records, read_table

HEADERS = {"mobile": "mobile", "name": "name"}
PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ),
}


def workbook(rows: Iterable[bytes], dimension: str | None = None) -> bytes:
    """A workbook written by hand, as a bomb would be: its sheet holds `rows` (row elements)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main">'
            )
            if dimension:
                sheet.write(b'<dimension ref="%s"/>' % dimension.encode())
            sheet.write(b"<sheetData>")
            for row in rows:
                sheet.write(row)
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


def cells(number: int, *values: str) -> bytes:
    inline = b"".join(
        b'<c r="%s%d" t="inlineStr"><is><t>%s</t></is></c>' % (column, number, value.encode())
        for column, value in zip((b"A", b"B", b"C"), values, strict=False)
    )
    return b'<row r="%d">%s</row>' % (number, inline)


def refusal(error: pytest.ExceptionInfo[InvalidInput]) -> tuple[str, str]:
    first = error.value.extra["errors"][0]
    return first["field"], first["code"]


def rows_of(content: bytes, filename: str, limits: FileLimits = FileLimits()) -> list[object]:
    return list(read_table(content, filename, HEADERS, ("mobile",), limits))


def test_a_workbook_unpacking_past_a_hundred_times_its_size_is_refused_unread() -> None:
    # The probe's bomb: identical inline rows, 0.3 MB that unpack to 100 MB. A smaller one here.
    same = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    bomb = workbook([b'<row><c t="inlineStr"><is><t>mobile</t></is></c></row>'] + [same] * 60_000)
    assert len(bomb) < 40_000
    for attempt in (
        lambda: measure(bomb, "bomb.xlsx", FileLimits()),
        lambda: rows_of(bomb, "bomb.xlsx"),
    ):
        with pytest.raises(InvalidInput) as refused:
            attempt()
        assert refusal(refused) == ("file", "unpacked_too_large")
        assert "100 times" in refused.value.detail


def test_a_workbook_unpacking_past_the_limit_is_refused() -> None:
    rows = [cells(1, "mobile", "name")] + [
        cells(n, f"1391{n:07d}", f"名{n}") for n in range(2, 30_000)
    ]
    content = workbook(rows)
    limits = FileLimits(max_unpacked_bytes=1 * MB)
    with pytest.raises(InvalidInput) as refused:
        measure(content, "big.xlsx", limits)
    assert refusal(refused) == ("file", "unpacked_too_large")
    assert measure(content, "big.xlsx", FileLimits()) == 29_998


@pytest.mark.parametrize("filename", ["members.csv", "members.xlsx"])
def test_a_file_past_the_row_limit_is_refused_before_a_row_is_read(filename: str) -> None:
    if filename.endswith(".csv"):
        content = ("mobile\n" + "".join(f"1391000000{n}\n" for n in range(6))).encode()
    else:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["mobile"])
        for n in range(6):
            sheet.append([f"1391000000{n}"])
        buffer = io.BytesIO()
        book.save(buffer)
        content = buffer.getvalue()
    assert measure(content, filename, FileLimits(max_rows=6)) == 6
    assert len(rows_of(content, filename, FileLimits(max_rows=6))) == 6
    with pytest.raises(InvalidInput) as refused:
        measure(content, filename, FileLimits(max_rows=5))
    assert refusal(refused) == ("file", "too_many_rows")
    with pytest.raises(InvalidInput) as streamed:  # read_table holds the limit on its own too
        rows_of(content, filename, FileLimits(max_rows=5))
    assert refusal(streamed) == ("file", "too_many_rows")


def test_rows_a_workbook_skips_count_toward_the_limit() -> None:
    """Row 1 then row 1,048,576: the rows between are read as empty, up to the limit only."""
    content = workbook([cells(1, "mobile"), cells(1_048_576, "13910000001")])
    assert measure(content, "gap.xlsx", FileLimits(max_rows=10)) == 1
    with pytest.raises(InvalidInput) as refused:
        rows_of(content, "gap.xlsx", FileLimits(max_rows=10))
    assert refusal(refused) == ("file", "too_many_rows")


def test_a_workbook_claiming_a_huge_size_is_read_as_its_cells() -> None:
    rows = [cells(1, "mobile", "name"), cells(2, "13910000001", "甲"), cells(3, "13910000002")]
    content = workbook(rows, dimension="A1:XFD1048576")
    # Read as the million rows it claims, it would be past this limit.
    assert rows_of(content, "claims.xlsx", FileLimits(max_rows=5)) == [
        (2, {"mobile": "13910000001", "name": "甲"}),
        (3, {"mobile": "13910000002", "name": None}),
    ]


def test_row_elements_are_counted_across_the_pieces_a_sheet_unpacks_in() -> None:
    # About 3 MB of sheet: tags cut between the 1 MB pieces are counted once.
    rows = [cells(1, "mobile", "name")] + [
        cells(n, f"1391{n:07d}", "名" * (n % 7 + 1)) for n in range(2, 40_001)
    ]
    content = workbook(rows)
    assert measure(content, "many.xlsx", FileLimits()) == 39_999
    assert len(rows_of(content, "many.xlsx")) == 39_999


def test_a_damaged_workbook_is_unreadable() -> None:
    content = workbook([cells(1, "mobile"), b"<row r='2'><c r='A2' t='inlineStr'><is><t>1"])
    with pytest.raises(InvalidInput) as refused:
        rows_of(content, "damaged.xlsx")
    assert refusal(refused) == ("file", "file_unreadable")


def test_records_are_the_wanted_fields_trimmed_with_refusals_in_place() -> None:
    content = (
        "名称,编码,其他\n 杯子 ,\u200bA-1,x\n,,only an unknown column\n碗,B\u202e1\n"
    ).encode()
    headers = {"名称": "name", "编码": "code", "数量": "quantity"}
    rows = list(read_records(content, "f.csv", headers, ("code", "quantity", "name"), ("code",)))
    assert [(number, row[0], row[1], row[2]) for number, row in rows[:1]] == [
        (2, "A-1", "", "杯子")
    ]
    number, (code, quantity, name) = rows[1]
    assert (number, quantity, name) == (4, "", "碗")
    assert isinstance(code, RefusedCell)
    assert (code.field_name, code.code.value) == ("code", "bidi_override")
    assert len(rows) == 2
