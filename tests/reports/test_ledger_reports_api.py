"""The ledger reports through GET /api/v1/reports/{name}: JSON, CSV and xlsx, and who reads
what."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.stores.models import Store
from tests.factories import make_staff, staff_headers
from tests.reports.ledger_world import NOW, PERIOD, World, build

WEEK = {"from": PERIOD.first.isoformat(), "to": PERIOD.last.isoformat()}


@pytest.fixture(autouse=True)
def _now() -> Any:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def world(session: Session) -> World:
    return build(session)


def headers(session: Session, settings: Settings, role: Role, *stores: Store) -> dict[str, str]:
    return staff_headers(make_staff(session, role, list(stores)), settings)


def test_points_and_the_stores_leaderboard_as_json(
    client: TestClient, session: Session, settings: Settings, world: World
) -> None:
    finance = headers(session, settings, Role.hq_finance)
    points = client.get("/api/v1/reports/points", params=WEEK, headers=finance)
    assert points.status_code == 200
    body = points.json()
    assert body["report"] == "points"
    assert body["from"] == "2026-03-02"
    assert body["points_earned"] > 0
    assert 0 < body["burn_rate"] < 1
    assert [row["day"] for row in body["tables"]["daily"]][::6] == ["2026-03-02", "2026-03-08"]
    assert (
        sum(r["liability"] for r in body["tables"]["liability_by_expiry"])
        == body["points_liability"]
    )
    board = client.get(
        "/api/v1/reports/leaderboard_stores",
        params={**WEEK, "compare": "true", "channel": "pos"},
        headers=finance,
    ).json()
    assert [r["rank"] for r in board["tables"]["stores"]] == [1, 2, 3]
    assert board["channel"] == "pos"
    assert board["previous"]["from"] == "2026-02-23"
    assert set(board["change"]) >= {"sales", "member_sales", "new_members"}


def test_stored_value_as_csv_and_a_store_page_as_xlsx(
    client: TestClient, session: Session, settings: Settings, world: World
) -> None:
    finance = headers(session, settings, Role.hq_finance)
    answer = client.get(
        "/api/v1/reports/stored_value",
        params={**WEEK, "format": "csv", "table": "settlement"},
        headers=finance,
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    net = client.get("/api/v1/reports/stored_value", params=WEEK, headers=finance).json()
    assert sum(int(r["net"]) for r in rows) == net["settlement_net"]
    manager = headers(session, settings, Role.store_manager, world.a)
    book = client.get("/api/v1/reports/store", params={**WEEK, "format": "xlsx"}, headers=manager)
    assert book.status_code == 200
    sheets = load_workbook(io.BytesIO(book.content)).worksheets
    assert [s.title for s in sheets] == ["summary", "daily", "top_guides"]
    summary = {row[0]: row[1] for row in sheets[0].iter_rows(min_row=2, values_only=True)}
    page = client.get("/api/v1/reports/store", params=WEEK, headers=manager).json()
    assert summary["sales"] == page["sales"] > 0
    assert len(list(sheets[1].iter_rows(min_row=2))) == PERIOD.days


def test_the_store_page_asks_for_a_store_and_refuses_another(
    client: TestClient, session: Session, settings: Settings, world: World
) -> None:
    hq = client.get(
        "/api/v1/reports/store", params=WEEK, headers=headers(session, settings, Role.hq_admin)
    )
    assert hq.status_code == 422
    assert hq.json()["errors"][0]["field"] == "store_id"
    manager = headers(session, settings, Role.store_manager, world.a)
    other = client.get(
        "/api/v1/reports/store", params={**WEEK, "store_id": world.b.id}, headers=manager
    )
    assert other.status_code == 404


def test_who_reads_which_report(client: TestClient, session: Session, settings: Settings) -> None:
    def listed(role: Role) -> set[str]:
        answer = client.get("/api/v1/reports", headers=headers(session, settings, role))
        return {r["name"] for r in answer.json()}

    ours = {
        "points",
        "stored_value",
        "coupons",
        "campaigns",
        "leaderboard_stores",
        "leaderboard_guides",
        "store",
    }
    assert listed(Role.hq_finance) >= ours
    assert ours - listed(Role.hq_marketing) == {"stored_value"}
    assert ours - listed(Role.store_manager) == {"campaigns"}
