"""The console's segments screens over HTTP: the list with counts and charts' figures, the
builder's live count and its refusals, saving, a segment's members masked and paged, export,
refresh and delete; store staff see their stores' members only."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.segments import rules
from patron.segments import service as segments
from patron.segments.models import Segment
from patron.segments.schemas import SegmentIn
from tests.factories import make_member, make_store


def _chart(html: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="segment-chart-data">(.*?)</script>', html, re.S
    )
    assert found is not None
    return json.loads(found[1])


def test_build_save_browse_export_and_delete(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    s1, s2 = make_store(session, "S1"), make_store(session, "S2")
    first = [make_member(session, s1) for _ in range(3)]
    make_member(session, s2)
    marketing = signed_in(Role.hq_marketing)
    csrf = marketing.headers["x-csrf"]

    empty = marketing.get("/console/segments")
    assert empty.status_code == 200
    assert "还没有人群" in empty.text
    chart = _chart(empty.text)
    assert chart["members"] == 4
    assert chart["lifecycle"]["data"][0] == 4  # every member a prospect (no profiles yet)
    assert len(chart["rfm"]["data"]) == len(rules.RfmClass)

    builder = marketing.get("/console/segments/new")
    assert builder.status_code == 200
    for words in ("字段", "函数", "运算符", "spent(days=90) &gt;= 50000", "距上次消费天数"):
        assert words in builder.text
    counted = marketing.post(
        "/console/segments/preview", data={"csrf": csrf, "rule": 'store = "S1"'}
    )
    assert counted.json() == {"count": 3}
    refused = marketing.post("/console/segments/preview", data={"csrf": csrf, "rule": "store =\n"})
    assert refused.status_code == 200
    error = refused.json()["error"]
    assert (error["line"], error["column"]) == (2, 1)
    assert "a string" in error["expected"]
    assert marketing.post("/console/segments/preview", data={"rule": "x"}).status_code == 403

    invalid = marketing.post(
        "/console/segments/new", data={"csrf": csrf, "name": "门店一", "rule": "frequency >"}
    )
    assert invalid.status_code == 422
    assert "第 1 行第 12 列" in invalid.text
    saved = marketing.post(
        "/console/segments/new",
        data={"csrf": csrf, "name": "门店一", "description": "S1 的会员", "rule": 'store = "S1"'},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    segment_id = int(saved.headers["location"].rsplit("/", 1)[1])
    page = marketing.get(saved.headers["location"])
    assert "人群“门店一”已创建" in page.text
    assert 'data-testid="segment-member-count">3<' in page.text
    for member in first:
        assert f'data-member="{member.id}"' in page.text
    assert "139****" in page.text  # masked

    listed = marketing.get("/console/segments")
    assert "门店一" in listed.text
    assert "<polyline" in listed.text

    exported = marketing.get(f"/console/segments/{segment_id}/export?format=csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    assert "****" in rows[1][2]
    xlsx = marketing.get(f"/console/segments/{segment_id}/export?format=xlsx")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")

    edited = marketing.post(
        f"/console/segments/{segment_id}/edit",
        data={"csrf": csrf, "name": "两店", "description": "", "rule": 'store in ("S1", "S2")'},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    again = marketing.get(edited.headers["location"])
    assert 'data-testid="segment-member-count">4<' in again.text
    refreshed = marketing.post(
        f"/console/segments/{segment_id}/refresh", data={"csrf": csrf}, follow_redirects=False
    )
    assert refreshed.status_code == 303
    deleted = marketing.post(
        f"/console/segments/{segment_id}/delete", data={"csrf": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert session.get(Segment, segment_id) is None
    assert marketing.get(f"/console/segments/{segment_id}").status_code == 404


def test_store_staff_see_their_stores_only_and_cannot_save(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    s1, s2 = make_store(session, "S1"), make_store(session, "S2")
    mine = make_member(session, s1)
    other = make_member(session, s2)
    segment = segments.create(
        session, SYSTEM, SegmentIn(name="全部", rule="registered_days >= 0"), clock.now()
    )
    manager = signed_in(Role.store_manager, [s1], lang="en")
    listed = manager.get("/console/segments")
    assert listed.status_code == 200
    assert "Segments" in listed.text
    assert _chart(listed.text)["members"] == 1
    page = manager.get(f"/console/segments/{segment.id}")
    assert "Members in my stores" in page.text
    assert f'data-member="{mine.id}"' in page.text
    assert f'data-member="{other.id}"' not in page.text
    assert manager.get("/console/segments/new").status_code == 403
    rows = list(
        csv.reader(
            io.StringIO(
                manager.get(f"/console/segments/{segment.id}/export").content.decode("utf-8-sig")
            )
        )
    )
    assert [int(r[0]) for r in rows[1:]] == [mine.id]
    assert signed_in(Role.cashier, [s1]).get("/console/segments").status_code == 403
