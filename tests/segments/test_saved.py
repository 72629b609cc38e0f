"""Saved segments over HTTP: CRUD, members by cursor, count history and refresh (by hand and by
the nightly job), CSV/xlsx export masked or in clear, and store scoping."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.settings import Settings
from patron.members.models import Member
from patron.profiles.models import MemberProfile
from patron.schedule import registry
from patron.segments import service
from patron.segments.models import Segment, SegmentCount
from patron.segments.schemas import SegmentIn
from patron.stores.models import Store
from tests.conftest import QueryCounter
from tests.factories import make_member, make_staff, make_store, staff_headers

SEGMENTS = "/api/v1/segments"
EVERYONE = "registered_days >= 0"


def _world(session: Session) -> tuple[Store, Store, list[Member], list[Member]]:
    s1, s2 = make_store(session, "S1"), make_store(session, "S2")
    first = [make_member(session, s1, email=f"a{n}@example.com") for n in range(4)]
    second = [make_member(session, s2) for _ in range(3)]
    return s1, s2, first, second


def _headers(session: Session, settings: Settings, role: Role, stores: Any = None) -> Any:
    return staff_headers(make_staff(session, role, stores), settings)


def _actions(session: Session, segment_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_type == "segment", AuditEntry.entity_id == str(segment_id))
            .order_by(AuditEntry.id)
        )
    )


def test_crud_name_unique_invalid_rules_and_audit(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _world(session)
    hq = _headers(session, settings, Role.hq_marketing)
    created = client.post(
        SEGMENTS, json={"name": "门店一", "description": "S1", "rule": 'store = "S1"'}, headers=hq
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["member_count"], body["scoped"], body["rule"]) == (4, False, 'store = "S1"')
    assert body["refreshed_at"] is not None
    segment_id = body["id"]
    taken = client.post(SEGMENTS, json={"name": "门店一", "rule": EVERYONE}, headers=hq)
    assert (taken.status_code, taken.json()["code"]) == (409, "segment_name_taken")
    invalid = client.post(SEGMENTS, json={"name": "x", "rule": "frequency >"}, headers=hq)
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_rule")
    assert invalid.json()["column"] == 12
    other = client.post(SEGMENTS, json={"name": "所有", "rule": EVERYONE}, headers=hq).json()
    listed = client.get(SEGMENTS, params={"limit": 1}, headers=hq).json()
    assert [s["id"] for s in listed["items"]] == [other["id"]]
    rest = client.get(SEGMENTS, params={"cursor": listed["next_cursor"]}, headers=hq).json()
    assert [s["id"] for s in rest["items"]] == [segment_id]
    assert rest["next_cursor"] is None

    changed = client.patch(
        f"{SEGMENTS}/{segment_id}", json={"rule": 'store in ("S1", "S2")'}, headers=hq
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["member_count"] == 7
    renamed = client.patch(f"{SEGMENTS}/{segment_id}", json={"name": "所有"}, headers=hq)
    assert (renamed.status_code, renamed.json()["code"]) == (409, "segment_name_taken")
    refused = client.patch(f"{SEGMENTS}/{segment_id}", json={"name": None}, headers=hq)
    assert refused.status_code == 422
    bad_rule = client.patch(f"{SEGMENTS}/{segment_id}", json={"rule": "tag("}, headers=hq)
    assert bad_rule.json()["code"] == "invalid_rule"
    got = client.get(f"{SEGMENTS}/{segment_id}", headers=hq).json()
    assert (got["name"], got["rule"], got["member_count"]) == ("门店一", 'store in ("S1", "S2")', 7)
    counts = client.get(f"{SEGMENTS}/{segment_id}/counts", headers=hq).json()
    assert [c["member_count"] for c in counts] == [4, 7]

    assert client.delete(f"{SEGMENTS}/{segment_id}", headers=hq).status_code == 204
    gone = client.get(f"{SEGMENTS}/{segment_id}", headers=hq)
    assert (gone.status_code, gone.json()["code"]) == (404, "segment_not_found")
    assert (
        session.scalars(select(SegmentCount).where(SegmentCount.segment_id == segment_id)).all()
        == []
    )
    assert _actions(session, segment_id) == ["segment.create", "segment.update", "segment.delete"]


def test_roles(client: TestClient, session: Session, settings: Settings) -> None:
    s1, *_ = _world(session)
    segment = service.create(session, SYSTEM, SegmentIn(name="全部", rule=EVERYONE), clock.now())
    guide = _headers(session, settings, Role.guide, [s1])
    assert client.get(SEGMENTS, headers=guide).status_code == 200
    assert (
        client.post(SEGMENTS, json={"name": "g", "rule": EVERYONE}, headers=guide).status_code
        == 403
    )
    assert client.get(f"{SEGMENTS}/{segment.id}/export", headers=guide).status_code == 403
    for role in (Role.cashier, Role.hq_finance):
        assert client.get(SEGMENTS, headers=_headers(session, settings, role)).status_code == 403


def test_members_by_cursor_masked_in_a_constant_number_of_queries(
    client: TestClient, session: Session, settings: Settings, count_queries: QueryCounter
) -> None:
    _, _, first, second = _world(session)
    segment = service.create(session, SYSTEM, SegmentIn(name="全部", rule=EVERYONE), clock.now())
    hq = _headers(session, settings, Role.hq_admin)
    url = f"{SEGMENTS}/{segment.id}/members"
    seen: list[int] = []
    cursor = None
    while True:
        page = client.get(
            url, params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=hq
        )
        assert page.status_code == 200, page.text
        seen += [m["id"] for m in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((m.id for m in first + second), reverse=True)
    item = page.json()["items"][0]
    assert item["mobile"].count("*") == 4
    assert item["name"] == "张*"
    queries = []
    for limit in (1, 7):
        before = count_queries.count
        assert client.get(url, params={"limit": limit}, headers=hq).status_code == 200
        queries.append(count_queries.count - before)
    assert queries[0] == queries[1]


def test_store_staff_count_and_see_their_stores_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    s1, _, first, _ = _world(session)
    segment = service.create(session, SYSTEM, SegmentIn(name="全部", rule=EVERYONE), clock.now())
    assert segment.member_count == 7
    manager = _headers(session, settings, Role.store_manager, [s1])
    got = client.get(f"{SEGMENTS}/{segment.id}", headers=manager).json()
    assert (got["member_count"], got["scoped"]) == (4, True)
    listed = client.get(SEGMENTS, headers=manager).json()["items"]
    assert [(s["member_count"], s["scoped"]) for s in listed] == [(None, True)]
    members = client.get(f"{SEGMENTS}/{segment.id}/members", headers=manager).json()["items"]
    assert sorted(m["id"] for m in members) == sorted(m.id for m in first)
    history = client.get(f"{SEGMENTS}/{segment.id}/counts", headers=manager)
    assert (history.status_code, history.json()["code"]) == (403, "segment_history_chain_wide")
    exported = client.get(f"{SEGMENTS}/{segment.id}/export", headers=manager)
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(m.id for m in first)
    # A store manager sees their stores' members in full.
    assert {r[2] for r in rows[1:]} == {m.mobile.removeprefix("+86") for m in first if m.mobile}


def test_export_csv_and_xlsx_masked_or_in_clear(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, _, first, _ = _world(session)
    segment = service.create(
        session, SYSTEM, SegmentIn(name="门店一", rule='store = "S1"'), clock.now()
    )
    url = f"{SEGMENTS}/{segment.id}/export"
    admin = _headers(session, settings, Role.hq_admin)
    marketing = _headers(session, settings, Role.hq_marketing)
    ordered = sorted(first, key=lambda m: m.id)

    full = client.get(url, params={"format": "csv"}, headers=admin)
    assert full.status_code == 200, full.text
    assert full.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(full.content.decode("utf-8-sig"))))
    assert rows[0] == list(service.EXPORT_COLUMNS)
    assert [r[:3] for r in rows[1:]] == [
        [str(m.id), "张伟", (m.mobile or "").removeprefix("+86")] for m in ordered
    ]
    assert [r[5] for r in rows[1:]] == [m.email for m in ordered]
    assert {r[6] for r in rows[1:]} == {"S1"}

    masked = client.get(url, params={"format": "xlsx"}, headers=marketing)
    assert masked.status_code == 200
    sheet = load_workbook(io.BytesIO(masked.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == list(service.EXPORT_COLUMNS)
    for row, member in zip(values[1:], ordered, strict=True):
        national = (member.mobile or "").removeprefix("+86")
        assert row[:3] == [member.id, "张*", f"{national[:3]}****{national[-4:]}"]
        assert str(row[5]).startswith("a***@")
    assert len(values) == 5
    exports = session.scalars(
        select(AuditEntry.after)
        .where(AuditEntry.action == "segment.export")
        .order_by(AuditEntry.id)
    ).all()
    assert [(e or {}).get("pii") for e in exports] == ["full", "masked"]


def test_export_reads_in_chunks(
    client: TestClient, session: Session, settings: Settings, monkeypatch: Any
) -> None:
    _, _, first, second = _world(session)
    monkeypatch.setattr(service, "EXPORT_CHUNK", 2)
    segment = service.create(session, SYSTEM, SegmentIn(name="全部", rule=EVERYONE), clock.now())
    admin = _headers(session, settings, Role.hq_admin)
    body = client.get(f"{SEGMENTS}/{segment.id}/export", headers=admin).content.decode("utf-8-sig")
    ids = [int(r[0]) for r in list(csv.reader(io.StringIO(body)))[1:]]
    assert ids == sorted(m.id for m in first + second)


def test_refresh_by_hand_and_by_the_nightly_job(
    client: TestClient, session: Session, settings: Settings
) -> None:
    s1, *_ = _world(session)
    now = clock.now()
    segment = service.create(session, SYSTEM, SegmentIn(name="门店一", rule='store = "S1"'), now)
    hq = _headers(session, settings, Role.hq_marketing)
    make_member(session, s1)
    refreshed = client.post(f"{SEGMENTS}/{segment.id}/refresh", headers=hq)
    assert refreshed.status_code == 200
    assert refreshed.json()["member_count"] == 5
    job = registry.JOBS["segments.refresh"]
    assert job.cadence.label == "daily 02:45"
    later = now + timedelta(days=1)
    make_member(session, s1)
    assert job.run(session, later) == "1 segments refreshed"
    assert job.run(session, later) == "1 segments refreshed"  # the same moment: one point
    counts = client.get(f"{SEGMENTS}/{segment.id}/counts", headers=hq).json()
    assert [c["member_count"] for c in counts] == [4, 5, 6]
    stored = session.get(Segment, segment.id)
    assert stored is not None
    assert stored.member_count == 6
    assert service.histories(session, [segment.id], limit=2) == {segment.id: [5, 6]}


def test_the_job_names_a_segment_whose_rule_no_longer_parses(session: Session) -> None:
    good = service.create(session, SYSTEM, SegmentIn(name="全部", rule=EVERYONE), clock.now())
    broken = Segment(name="旧", rule="old_field = 1", created_by="x")
    session.add(broken)
    session.flush()
    summary = registry.JOBS["segments.refresh"].run(session, clock.now() + timedelta(hours=1))
    assert summary == "1 segments refreshed, 1 with a rule that no longer parses: 旧"
    assert broken.member_count is None
    assert good.member_count == 0


def test_the_distribution_counts_classes_and_stages_in_the_callers_stores(
    session: Session,
) -> None:
    s1, _, first, second = _world(session)
    rows = [
        (first[0], "important_value", "active"),
        (first[1], "important_value", "active"),
        (first[2], None, "churned"),
        (second[0], "general_winback", "dormant"),
    ]
    for member, rfm_class, lifecycle in rows:
        session.add(MemberProfile(member_id=member.id, rfm_class=rfm_class, lifecycle=lifecycle))
    session.flush()
    chain = service.distribution(session, SYSTEM)
    assert chain.members == 7
    assert chain.rfm == {"important_value": 2, "general_winback": 1}
    assert chain.lifecycle == {"active": 2, "churned": 1, "dormant": 1, "prospect": 3}
    manager = Actor("staff", 1, "m", Role.store_manager, frozenset({s1.id}))
    mine = service.distribution(session, manager)
    assert (mine.members, mine.rfm) == (4, {"important_value": 2})
    assert mine.lifecycle == {"active": 2, "churned": 1, "prospect": 1}
