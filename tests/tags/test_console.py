"""The console's tag pages through the test client: the list, creating a tag, its page with the
bulk box and a file, and the member page's tags."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD
from patron.core.actor import SYSTEM, Role
from patron.tags import service
from patron.tags.models import Tag, TagKind
from patron.tags.schemas import TagCreate
from tests.factories import make_member, make_store

Client = Callable[..., TestClient]


def texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    ("lang", "created", "tagged"),
    [("zh", "标签“VIP”已创建", "已打上"), ("en", "Tag “VIP” created", "Tagged")],
)
def test_marketing_creates_a_tag_and_tags_members_in_bulk(
    signed_in: Client, session: Session, lang: str, created: str, tagged: str
) -> None:
    store = make_store(session)
    members = [make_member(session, store) for _ in range(2)]
    client = signed_in(Role.hq_marketing, lang=lang)
    assert client.get("/console/tags").status_code == 200
    csrf = client.headers["x-csrf"]
    page = client.post("/console/tags", data={CSRF_FIELD: csrf, "name": "VIP", "kind": "manual"})
    assert page.status_code == 200
    assert created in texts(page.text)
    tag = service.find_tag(session, "VIP")
    assert tag is not None
    pasted = f"{members[0].id}\n{members[1].mobile}\nnobody\n"
    result = client.post(
        f"/console/tags/{tag.id}/members",
        data={CSRF_FIELD: csrf, "members": pasted, "action": "add"},
    )
    assert result.status_code == 200
    assert 'data-testid="count-added">2<' in result.text
    assert 'data-status="not_found"' in result.text
    assert tagged in texts(result.text)
    upload = client.post(
        f"/console/tags/{tag.id}/members",
        data={CSRF_FIELD: csrf, "members": "", "action": "add"},
        files={"file": ("vip.csv", f"member,tag\n{members[0].id},母婴\n".encode(), "text/csv")},
    )
    assert upload.status_code == 200
    assert "母婴" in texts(upload.text)
    listed = texts(client.get("/console/tags").text)
    assert "VIP" in listed
    assert "母婴" in listed
    taken = client.post("/console/tags", data={CSRF_FIELD: csrf, "name": "VIP", "kind": "manual"})
    assert taken.status_code == 409


def test_a_member_is_tagged_on_the_member_page(signed_in: Client, session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    service.create_tag(session, SYSTEM, TagCreate(name="投诉"))
    session.add(Tag(name="高频", kind=TagKind.rule.value, rule="frequency >= 3", member_count=0))
    session.flush()
    client = signed_in(Role.guide, [store])
    csrf = client.headers["x-csrf"]
    detail = client.get(f"/console/members/{member.id}")
    assert detail.status_code == 200
    assert '<option value="投诉">' in detail.text
    assert '<option value="高频">' not in detail.text  # rule tags are not added by hand
    added = client.post(
        f"/console/members/{member.id}/tags", data={CSRF_FIELD: csrf, "tag": "投诉"}
    )
    assert "已打上标签“投诉”" in texts(added.text)
    timeline = added.text.split('data-testid="timeline"', 1)[1]
    assert "打上标签“投诉”" in texts(timeline)
    assert [t.name for t in service.member_tags(session, member.id)] == ["投诉"]
    unknown = client.post(
        f"/console/members/{member.id}/tags", data={CSRF_FIELD: csrf, "tag": "新"}
    )
    assert "没有名为“新”的标签" in texts(unknown.text)
    rule = client.post(f"/console/members/{member.id}/tags", data={CSRF_FIELD: csrf, "tag": "高频"})
    assert "规则标签" in texts(rule.text)
    tag = service.find_tag(session, "投诉")
    assert tag is not None
    removed = client.post(
        f"/console/members/{member.id}/tags/{tag.id}/delete", data={CSRF_FIELD: csrf}
    )
    assert "已取下标签“投诉”" in texts(removed.text)
    assert service.member_tags(session, member.id) == []
    # A guide reads tags but neither creates them nor tags in bulk.
    assert client.post("/console/tags", data={CSRF_FIELD: csrf, "name": "x"}).status_code == 403
    bulk = client.post(f"/console/tags/{tag.id}/members", data={CSRF_FIELD: csrf, "members": "1"})
    assert bulk.status_code == 403


def test_a_rule_tag_is_created_computed_and_its_rule_checked(
    signed_in: Client, session: Session
) -> None:
    make_member(session)
    client = signed_in(Role.hq_admin, lang="en")
    csrf = client.headers["x-csrf"]
    form = {CSRF_FIELD: csrf, "name": "老会员", "kind": "rule", "rule": "registered_days >="}
    refused = client.post("/console/tags", data=form)
    assert refused.status_code == 422
    assert "line 1, column" in texts(refused.text)
    created = client.post("/console/tags", data=form | {"rule": "registered_days >= 0"})
    assert created.status_code == 200
    tag = service.find_tag(session, "老会员")
    assert tag is not None
    assert tag.member_count == 1
    assert 'data-testid="bulk-form"' not in created.text  # a rule tag takes no members by hand
    again = client.post(f"/console/tags/{tag.id}/refresh", data={CSRF_FIELD: csrf})
    assert "computed again" in texts(again.text)
