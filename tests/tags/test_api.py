"""The tags API: tags listed with their counts (queries that do not grow with rows), a member
tagged by name or id, many members by a list or a file."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.core.settings import Settings
from patron.tags.models import Tag, TagKind
from tests.conftest import QueryCounter
from tests.factories import make_member, make_staff, make_store, staff_headers


def test_tags_are_created_listed_and_edited(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = staff_headers(make_staff(session, Role.hq_marketing), settings)
    created = client.post(
        "/api/v1/tags", json={"name": " VIP ", "description": "大客户"}, headers=admin
    )
    assert created.status_code == 201, created.text
    tag = created.json()
    assert (tag["name"], tag["kind"], tag["member_count"], tag["rule"]) == (
        "VIP",
        "manual",
        0,
        None,
    )
    again = client.post("/api/v1/tags", json={"name": "VIP"}, headers=admin)
    assert (again.status_code, again.json()["code"]) == (409, "tag_name_taken")
    patched = client.patch(f"/api/v1/tags/{tag['id']}", json={"name": "VIP2"}, headers=admin)
    assert patched.json()["name"] == "VIP2"
    null = client.patch(f"/api/v1/tags/{tag['id']}", json={"name": None}, headers=admin)
    assert null.status_code == 422
    assert client.get(f"/api/v1/tags/{tag['id']}", headers=admin).json()["name"] == "VIP2"
    assert client.get("/api/v1/tags/999999", headers=admin).json()["code"] == "tag_not_found"
    cashier = staff_headers(make_staff(session, Role.cashier, [make_store(session)]), settings)
    assert client.post("/api/v1/tags", json={"name": "x"}, headers=cashier).status_code == 403
    listed = client.get("/api/v1/tags", params={"kind": "manual"}, headers=cashier).json()
    assert [t["name"] for t in listed["items"]] == ["VIP2"]
    assert (
        client.get("/api/v1/tags", params={"kind": "rule"}, headers=cashier).json()["items"] == []
    )


def test_the_tag_list_takes_the_same_queries_for_more_tags(
    client: TestClient, session: Session, settings: Settings, count_queries: QueryCounter
) -> None:
    headers = staff_headers(make_staff(session, Role.hq_admin), settings)

    def queries() -> int:
        count_queries.count = 0
        response = client.get("/api/v1/tags", headers=headers)
        assert response.status_code == 200
        return count_queries.count

    session.add(Tag(name="t0", kind=TagKind.manual.value, member_count=0))
    session.flush()
    few = queries()
    session.add_all(
        Tag(name=f"t{i}", kind=TagKind.manual.value, member_count=i) for i in range(1, 40)
    )
    session.flush()
    assert queries() == few


def test_a_member_is_tagged_by_name_or_id(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    marketing = staff_headers(make_staff(session, Role.hq_marketing), settings)
    guide = staff_headers(make_staff(session, Role.guide, [store]), settings)
    url = f"/api/v1/members/{member.id}/tags"
    first = client.post(url, json={"tag": "投诉"}, headers=marketing)
    assert first.status_code == 201, first.text
    assert (first.json()["name"], first.json()["added"], first.json()["kind"]) == (
        "投诉",
        True,
        "manual",
    )
    tag_id = first.json()["tag_id"]
    twice = client.post(url, json={"tag_id": tag_id}, headers=guide)
    assert (twice.status_code, twice.json()["added"]) == (200, False)
    unknown = client.post(url, json={"tag": "新标签"}, headers=guide)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "tag_not_found")
    both = client.post(url, json={"tag": "投诉", "tag_id": tag_id}, headers=guide)
    assert both.status_code == 422
    assert both.json()["errors"][0]["code"] == "tag_or_tag_id"
    assert [t["name"] for t in client.get(url, headers=guide).json()] == ["投诉"]
    assert client.get(f"/api/v1/tags/{tag_id}", headers=guide).json()["member_count"] == 1
    assert client.delete(f"{url}/{tag_id}", headers=guide).status_code == 204
    assert client.delete(f"{url}/{tag_id}", headers=guide).status_code == 204
    assert client.get(url, headers=guide).json() == []
    other = staff_headers(make_staff(session, Role.guide, [make_store(session)]), settings)
    hidden = client.post(url, json={"tag_id": tag_id}, headers=other)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "member_not_found")
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    assert client.post(url, json={"tag_id": tag_id}, headers=finance).status_code == 403


def test_a_rule_tag_refuses_hand_tagging_with_409(
    client: TestClient, session: Session, settings: Settings
) -> None:
    member = make_member(session)
    tag = Tag(name="高频", kind=TagKind.rule.value, rule="frequency >= 3", member_count=0)
    session.add(tag)
    session.flush()
    headers = staff_headers(make_staff(session, Role.hq_admin), settings)
    refused = client.post(
        f"/api/v1/members/{member.id}/tags", json={"tag": "高频"}, headers=headers
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "rule_tag_is_computed")
    bulk = client.post(f"/api/v1/tags/{tag.id}/members", json={"members": ["1"]}, headers=headers)
    assert bulk.status_code == 409


def test_many_members_by_a_list_and_by_a_file(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session)
    members = [make_member(session, store) for _ in range(3)]
    headers = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    tag_id = client.post("/api/v1/tags", json={"name": "VIP"}, headers=admin).json()["id"]
    refs = [str(members[0].id), members[1].mobile, "nobody", str(members[0].id)]
    added = client.post(f"/api/v1/tags/{tag_id}/members", json={"members": refs}, headers=headers)
    assert added.status_code == 200, added.text
    body = added.json()
    assert body["counts"] == {"added": 2, "already": 1, "not_found": 1}
    assert [r["status"] for r in body["results"]] == ["added", "added", "not_found", "already"]
    removed = client.post(
        f"/api/v1/tags/{tag_id}/members/remove",
        json={"members": [str(members[0].id)]},
        headers=headers,
    )
    assert removed.json()["counts"] == {"removed": 1, "absent": 0, "not_found": 0}
    upload = client.post(
        f"/api/v1/tags/{tag_id}/members/upload",
        files={"file": ("vip.csv", f"member\n{members[2].id}\n".encode(), "text/csv")},
        headers=headers,
    )
    assert upload.status_code == 200, upload.text
    assert upload.json()["counts"]["added"] == 1
    rows = f"member,tag\n{members[0].id},母婴\n{members[1].id},VIP\n".encode()
    imported = client.post(
        "/api/v1/tag-imports", files={"file": ("tags.csv", rows, "text/csv")}, headers=headers
    )
    assert imported.json()["created_tags"] == ["母婴"]
    assert imported.json()["counts"] == {"added": 1, "already": 1, "not_found": 0, "refused": 0}
    assert client.get(f"/api/v1/tags/{tag_id}", headers=headers).json()["member_count"] == 2
    cashier = staff_headers(make_staff(session, Role.cashier, [store]), settings)
    refused = client.post(
        f"/api/v1/tags/{tag_id}/members", json={"members": ["1"]}, headers=cashier
    )
    assert refused.status_code == 403
    empty = client.post(f"/api/v1/tags/{tag_id}/members", json={"members": []}, headers=headers)
    assert empty.status_code == 422
