"""`patron segments list|count|refresh|export` and the demo's segments, on an SQLite file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from patron.cli import app
from patron.core import db
from patron.segments.models import Segment, SegmentCount
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.conftest import TEST_SECRET


@pytest.mark.usefixtures("cli_database")
def test_list_count_refresh_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    invoke("db", "upgrade")
    shown = invoke("demo", "--members", "30", "--no-orders")
    assert "demo segments: 高价值沉睡 0, 母婴高消费金卡 0, 短信可召回 0" in shown
    assert invoke("demo", "--if-empty", "--members", "0", "--no-orders").count("高价值沉睡") == 1
    with db.transaction(read_only=True) as session:
        segments = session.scalars(select(Segment).order_by(Segment.id)).all()
        assert [s.name for s in segments] == ["高价值沉睡", "母婴高消费金卡", "短信可召回"]
        assert len(session.scalars(select(SegmentCount)).all()) >= 3
    listed = invoke("segments", "list")
    assert "高价值沉睡" in listed
    everyone = int(invoke("segments", "count", "registered_days >= 0", "--now", "2030-01-01"))
    assert everyone >= 30
    assert invoke("segments", "count", 'lifecycle = "prospect"').strip() == str(everyone)
    result = CliRunner().invoke(app, ["segments", "count", 'tier = "gold"\nand frequency >'])
    assert result.exit_code == 1
    assert "line 2, column 16" in result.output
    assert "expected: " in result.output
    assert "2 segments refreshed" not in invoke("segments", "refresh")
    one = invoke("segments", "refresh", str(segments[0].id), "--now", "2030-01-01T03:00")
    assert "高价值沉睡: 0 members at 2030-01-01T03:00:00+08:00" in one

    with db.transaction() as session:
        session.add(Segment(name="所有人", rule="registered_days >= 0", created_by="test"))
    all_id = len(segments) + 1
    out = tmp_path / "all.csv"
    assert f"wrote {everyone} members" in invoke(
        "segments", "export", str(all_id), "--format", "csv", "--out", str(out)
    )
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert len(rows) == everyone + 1
    assert "****" in rows[1][2]  # masked by default
    book = tmp_path / "all.xlsx"
    invoke("segments", "export", str(all_id), "--format", "xlsx", "--out", str(book), "--full-pii")
    sheet = load_workbook(book).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == everyone + 1
    assert "*" not in str(values[1][2])
