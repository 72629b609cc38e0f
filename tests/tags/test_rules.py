"""Rule tags: a segment rule checked when saved, applied set-based on refresh (members no
longer selected untagged, new ones tagged), by the API, the nightly job and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock, db
from patron.core.actor import SYSTEM, Role
from patron.core.settings import Settings
from patron.schedule import registry
from patron.segments.rules import InvalidRule
from patron.tags import rules, service
from patron.tags.errors import NotARuleTag
from patron.tags.models import Tag
from patron.tags.schemas import TagCreate, TagUpdate
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.conftest import TEST_SECRET
from tests.factories import make_member, make_staff, staff_headers

NOW = datetime(2026, 11, 28, 18, 30, tzinfo=UTC)


def rule_tag(session: Session, rule: str, name: str = "VIP粉丝") -> Tag:
    data = TagCreate.model_validate({"name": name, "kind": "rule", "rule": rule})
    return service.create_tag(session, SYSTEM, data)


def test_a_refresh_tags_what_the_rule_selects_and_untags_the_rest(session: Session) -> None:
    vip = service.create_tag(session, SYSTEM, TagCreate(name="VIP"))
    first, second, third = (make_member(session) for _ in range(3))
    for member in (first, second):
        service.tag_member(session, SYSTEM, member.id, vip)
    fans = rule_tag(session, 'tag("VIP")')
    done = rules.refresh(session, SYSTEM, fans, NOW)
    assert (done.added, done.removed, done.member_count) == (2, 0, 2)
    assert (fans.member_count, fans.refreshed_at) == (2, NOW)
    service.untag_member(session, SYSTEM, first.id, vip.id)
    service.tag_member(session, SYSTEM, third.id, vip)
    done = rules.refresh(session, SYSTEM, fans, NOW)
    assert (done.added, done.removed, done.member_count) == (1, 1, 2)
    assert [t.source for t in service.member_tags(session, third.id) if t.name == "VIP粉丝"] == [
        "rule"
    ]
    assert service.member_tags(session, first.id) == []
    again = rules.refresh(session, SYSTEM, fans, NOW)
    assert (again.added, again.removed, again.member_count) == (0, 0, 2)
    entries = session.scalars(
        select(AuditEntry.after).where(AuditEntry.action == "tag.refresh").order_by(AuditEntry.id)
    ).all()
    assert entries[-2] == {"added": 1, "removed": 1, "member_count": 2}


def test_a_rule_is_checked_when_saved(session: Session) -> None:
    with pytest.raises(InvalidRule) as refused:
        rule_tag(session, "frequency >= ")
    assert refused.value.code == "invalid_rule"
    assert refused.value.line == 1
    tag = rule_tag(session, "registered_days >= 0")
    with pytest.raises(InvalidRule):
        service.update_tag(session, SYSTEM, tag.id, TagUpdate(rule="nonsense("))
    manual = service.create_tag(session, SYSTEM, TagCreate(name="手工"))
    with pytest.raises(NotARuleTag):
        rules.refresh(session, SYSTEM, manual)


def test_the_nightly_job_refreshes_every_rule_tag(session: Session) -> None:
    make_member(session)
    tag = rule_tag(session, "registered_days >= 0")
    job = registry.JOBS["tags.refresh"]
    assert job.cadence.label == "daily 02:30"
    summary = job.run(session, clock.now())
    assert summary == "1 rule tags refreshed: 1 members tagged, 0 untagged"
    session.refresh(tag)
    assert tag.member_count == 1


def test_the_api_computes_a_rule_tag_on_creation_and_on_demand(
    client: TestClient, session: Session, settings: Settings
) -> None:
    member = make_member(session)
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    body = {"name": "老会员", "kind": "rule", "rule": "registered_days >= 0"}
    created = client.post("/api/v1/tags", json=body, headers=headers)
    assert created.status_code == 201, created.text
    tag = created.json()
    assert tag["member_count"] == 1
    assert tag["refreshed_at"] is not None
    bad = client.post(
        "/api/v1/tags", json=body | {"name": "x", "rule": "tier in ("}, headers=headers
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_rule")
    assert bad.json()["line"] == 1
    make_member(session)
    refreshed = client.post(f"/api/v1/tags/{tag['id']}/refresh", headers=headers)
    assert refreshed.json()["member_count"] == 2
    patched = client.patch(
        f"/api/v1/tags/{tag['id']}", json={"rule": "registered_days < 0"}, headers=headers
    )
    assert patched.json()["member_count"] == 0
    hand = client.post(
        f"/api/v1/members/{member.id}/tags", json={"tag_id": tag["id"]}, headers=headers
    )
    assert (hand.status_code, hand.json()["code"]) == (409, "rule_tag_is_computed")
    manual = client.post("/api/v1/tags", json={"name": "手工"}, headers=headers).json()
    refused = client.post(f"/api/v1/tags/{manual['id']}/refresh", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_a_rule_tag")


@pytest.mark.usefixtures("cli_database")
def test_the_cli_refreshes_a_rule_tag_as_of_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    invoke("db", "upgrade")
    with db.transaction() as session:
        make_member(session)
        rule_tag(session, "registered_days >= 0", name="全部")
    out = invoke("tags", "refresh", "全部", "--now", "2026-12-01T02:30:00+08:00")
    assert "全部: 1 members (+1, -0)" in out
    listed = " ".join(invoke("tags", "list").split())
    assert "全部 │ rule │ 1 │ 2026-12-01 02:30" in listed
    assert "0 rule tags" not in invoke("tags", "refresh")
