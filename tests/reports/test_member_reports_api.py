"""The member reports through `GET /api/v1/reports/{name}`: JSON with the headline figures at
the top level, CSV of one table, xlsx of them all; scoped to a store manager's stores; and
figures from real orders and refunds once the facts are refreshed."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.settings import Settings
from patron.orders import service as orders
from patron.orders.schemas import RefundCreate
from patron.reports import facts, registry
from patron.reports.query import Period, report_query
from patron.staff import service as staff
from tests.factories import make_member, make_order, make_staff, make_store, staff_headers
from tests.reports.member_world import NOW, build_world

MEMBER_REPORTS = (
    "growth",
    "active",
    "repurchase",
    "cohorts",
    "cohorts_registration",
    "tiers",
    "rfm",
    "lifecycle",
    "pareto",
)
YEAR = {"from": "2025-01-01", "to": "2025-12-31"}


def test_pareto_as_json_csv_and_xlsx(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build_world(session, members=30)
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    with clock.frozen(NOW):
        shown = client.get("/api/v1/reports/pareto", params=YEAR, headers=admin)
        direct = registry.run(
            session,
            SYSTEM,
            registry.get("pareto"),
            report_query(session, SYSTEM, Period(date(2025, 1, 1), date(2025, 12, 31))),
        ).result.summary
        as_csv = client.get(
            "/api/v1/reports/pareto", params=YEAR | {"format": "csv"}, headers=admin
        )
        as_xlsx = client.get(
            "/api/v1/reports/pareto",
            params=YEAR | {"format": "xlsx", "compare": "true"},
            headers=admin,
        )
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["report"] == "pareto"
    assert (body["top20_share"], body["gini"], body["buyers"]) == (
        direct["top20_share"],
        direct["gini"],
        direct["buyers"],
    )
    assert 0 < body["gini"] < 1
    assert len(body["curve"]) == 101
    assert body["curve"][-1] == {"buyers_share": 1.0, "sales_share": 1.0}
    assert body["tables"]["curve"] == body["curve"]
    in_year = world.facts[
        (world.facts.day >= date(2025, 1, 1)) & (world.facts.day < date(2026, 1, 1))
    ]
    assert body["member_sales"] == int(in_year.net_sales.sum())
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "buyers_share,sales_share"
    assert len(lines) == 1 + 101
    assert lines[-1] == "1.0,1.0"
    assert as_xlsx.status_code == 200
    book = load_workbook(io.BytesIO(as_xlsx.content))
    assert book.sheetnames == ["summary", "curve"]
    summary = {row[0]: row[1:] for row in book["summary"].iter_rows(values_only=True)}
    assert summary["figure"] == ("value", "previous", "change")
    assert summary["gini"][0] == body["gini"]
    assert "curve" not in summary  # a list: in its own sheet


def test_every_member_report_answers_in_every_format_for_hq_and_a_manager(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build_world(session, members=20)
    other = make_store(session)
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    manager = staff_headers(make_staff(session, Role.store_manager, [world.stores[0]]), settings)
    for name in MEMBER_REPORTS:
        for headers in (admin, manager):
            for fmt in ({}, {"format": "csv"}, {"format": "xlsx"}):
                answer = client.get(f"/api/v1/reports/{name}", params=YEAR | fmt, headers=headers)
                assert answer.status_code == 200, (name, fmt, answer.text)
        listed = client.get("/api/v1/reports", headers=manager).json()
        assert name in {r["name"] for r in listed}
    # A manager asking for another store's figures finds no such store.
    refused = client.get(
        "/api/v1/reports/growth", params=YEAR | {"store_id": other.id}, headers=manager
    )
    assert refused.status_code == 404


def summary(session: Session, name: str, actor: Actor = SYSTEM) -> dict[str, Any]:
    query = report_query(session, actor, Period(date(2026, 1, 1), date(2026, 1, 31)))
    return dict(registry.run(session, actor, registry.get(name), query).result.summary)


def test_figures_from_orders_and_refunds_after_a_refresh(session: Session) -> None:
    """Two members of store A, one of B: the reports read the facts the orders make, a fully
    refunded order counting for nothing, a manager of A seeing A's registrations and sales."""
    a, b = make_store(session), make_store(session)
    with clock.frozen(datetime(2026, 1, 2, 2, tzinfo=UTC)):
        ann, bob = make_member(session, a), make_member(session, a)
        cai = make_member(session, b)
    with clock.frozen(datetime(2026, 1, 20, 4, tzinfo=UTC)):
        make_order(session, a, ann, occurred_at="2026-01-05T10:00:00+08:00")
        make_order(session, a, ann, occurred_at="2026-01-09T10:00:00+08:00")
        make_order(session, b, ann, occurred_at="2026-01-07T10:00:00+08:00")
        refunded = make_order(session, a, bob, occurred_at="2026-01-06T10:00:00+08:00")
        make_order(session, b, cai, occurred_at="2026-01-06T10:00:00+08:00")
        orders.refund_order(session, SYSTEM, refunded.id, RefundCreate(all=True))
        facts.refresh(session)
        mine = staff.actor_for(session, make_staff(session, Role.store_manager, [a]))
        growth = {"new_members": 3, "converted_30d": 2, "conversion_rate": 0.6667}
        assert summary(session, "growth") == growth
        growth = {"new_members": 2, "converted_30d": 1, "conversion_rate": 0.5}
        assert summary(session, "growth", mine) == growth
        again = {"buyers": 2, "repurchasers": 1, "repurchase_rate": 0.5}
        assert summary(session, "repurchase") == again
        again = {"buyers": 1, "repurchasers": 1, "repurchase_rate": 1.0}
        assert summary(session, "repurchase", mine) == again
        assert summary(session, "active")["active_members"] == 2
        pareto = summary(session, "pareto")
        assert (pareto["buyers"], pareto["member_sales"], pareto["top20_share"]) == (
            2,
            48000,
            0.75,
        )
        assert summary(session, "pareto", mine)["member_sales"] == 24000
