"""Tags: creating them, tagging members one by one, by a pasted list and from a file; the counts
kept current, the audit entries, the store scope; merge, erasure and export."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden, InvalidInput
from patron.members import codes, identities, merge, privacy, timeline
from patron.members.errors import MemberNotFound
from patron.members.models import IdentityType
from patron.members.schemas import IdentityIn
from patron.tags import service
from patron.tags.errors import RuleTagIsComputed, TagNameTaken, TagNotFound
from patron.tags.models import MemberTag, Tag, TagKind
from patron.tags.schemas import TagCreate, TagUpdate
from tests.factories import make_member, make_store


def actor(role: Role, store_ids: list[int] | None = None) -> Actor:
    scope = None if store_ids is None else frozenset(store_ids)
    return Actor(kind="staff", id=7, name=f"{role.value}.wang", role=role, store_ids=scope)


def new_tag(session: Session, name: str = "VIP") -> Tag:
    return service.create_tag(session, SYSTEM, TagCreate(name=name))


def count_of(session: Session, tag: Tag) -> int:
    session.refresh(tag)
    rows = session.scalars(select(MemberTag).where(MemberTag.tag_id == tag.id)).all()
    assert tag.member_count == len(rows)
    return tag.member_count


def actions(session: Session, *names: str) -> list[tuple[str, str, dict[str, object] | None]]:
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(names)).order_by(AuditEntry.id)
    )
    return [(e.action, e.entity_id, e.after) for e in entries]


def test_a_tag_is_created_trimmed_and_named_once(session: Session) -> None:
    tag = service.create_tag(
        session, SYSTEM, TagCreate.model_validate({"name": "  投诉  ", "description": "客诉"})
    )
    assert (tag.name, tag.kind, tag.member_count, tag.created_by) == ("投诉", "manual", 0, "system")
    with pytest.raises(TagNameTaken):
        service.create_tag(session, SYSTEM, TagCreate(name="投诉"))
    other = new_tag(session, "母婴")
    with pytest.raises(TagNameTaken):
        service.update_tag(session, SYSTEM, other.id, TagUpdate(name="投诉"))
    service.update_tag(session, SYSTEM, other.id, TagUpdate(description="孕婴童"))
    assert actions(session, "tag.create", "tag.update")[-1] == (
        "tag.update",
        str(other.id),
        {"description": "孕婴童"},
    )
    with pytest.raises(ValidationError, match="at most 64 characters"):
        TagCreate.model_validate({"name": "x" * 65})
    with pytest.raises(ValidationError, match="is blank"):
        TagCreate.model_validate({"name": "   "})
    with pytest.raises(InvalidInput, match="needs a rule"):
        service.create_tag(session, SYSTEM, TagCreate.model_validate({"name": "r", "kind": "rule"}))
    with pytest.raises(InvalidInput, match="only rule tags"):
        service.create_tag(session, SYSTEM, TagCreate(name="m", rule="frequency >= 1"))
    with pytest.raises(ValidationError, match="kind"):
        TagCreate.model_validate({"name": "i", "kind": "imported"})
    with pytest.raises(Forbidden):
        service.create_tag(session, actor(Role.cashier), TagCreate(name="n"))


def test_tagging_a_member_twice_adds_once_and_is_audited(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    tag = new_tag(session)
    cashier = actor(Role.cashier, [store.id])
    out, added = service.tag_member(session, cashier, member.id, tag)
    assert (out.name, out.source, out.added_by, added) == ("VIP", "manual", "cashier.wang", True)
    assert service.tag_member(session, cashier, member.id, tag)[1] is False
    assert count_of(session, tag) == 1
    assert [t.name for t in service.member_tags(session, member.id)] == ["VIP"]
    assert service.untag_member(session, cashier, member.id, tag.id) is True
    assert service.untag_member(session, cashier, member.id, tag.id) is False
    assert count_of(session, tag) == 0
    after = {"tag_id": tag.id, "tag": "VIP"}
    assert actions(session, "tag.add", "tag.remove") == [
        ("tag.add", str(member.id), after),
        ("tag.remove", str(member.id), after),
    ]
    events = timeline.timeline(session, SYSTEM, member.id)
    assert sorted(e.summary for e in events if e.kind == "tag") == ["add", "remove"]


def test_store_staff_tag_only_members_they_may_see(session: Session) -> None:
    mine, theirs = make_store(session), make_store(session)
    member = make_member(session, theirs)
    tag = new_tag(session)
    with pytest.raises(MemberNotFound):
        service.tag_member(session, actor(Role.guide, [mine.id]), member.id, tag)
    manager = actor(Role.store_manager, [mine.id])
    result = service.add_members(session, manager, tag.id, [str(member.id), member.mobile or ""])
    assert [r.status for r in result.results] == ["not_found", "not_found"]
    assert count_of(session, tag) == 0


def test_rule_tags_are_not_tagged_by_hand(session: Session) -> None:
    member = make_member(session)
    rule_tag = Tag(name="高频", kind=TagKind.rule.value, rule="frequency >= 3", member_count=0)
    session.add(rule_tag)
    session.flush()
    with pytest.raises(RuleTagIsComputed) as refused:
        service.tag_member(session, SYSTEM, member.id, rule_tag)
    assert refused.value.code == "rule_tag_is_computed"
    assert refused.value.status == 409
    with pytest.raises(RuleTagIsComputed):
        service.untag_member(session, SYSTEM, member.id, rule_tag.id)
    with pytest.raises(RuleTagIsComputed):
        service.add_members(session, SYSTEM, rule_tag.id, [str(member.id)])


def test_a_tag_named_that_does_not_exist_is_created_for_managers_only(session: Session) -> None:
    tag = service.tag_by_ref(session, actor(Role.hq_marketing), "新客", None)
    assert (tag.name, tag.kind) == ("新客", "manual")
    assert service.tag_by_ref(session, actor(Role.cashier), " 新客 ", None).id == tag.id
    with pytest.raises(TagNotFound):
        service.tag_by_ref(session, actor(Role.cashier), "老客", None)
    with pytest.raises(InvalidInput, match="tag or the tag_id"):
        service.tag_by_ref(session, SYSTEM, "新客", tag.id)


def test_a_pasted_list_reports_each_line(session: Session) -> None:
    store = make_store(session)
    by_id, by_mobile, by_card, by_code = (make_member(session, store) for _ in range(4))
    identities.add_identity(
        session, SYSTEM, by_card, IdentityIn(type=IdentityType.card_no, value="8800123")
    )
    code = codes.issue_code(session, SYSTEM, by_code.id).code
    tag = new_tag(session)
    service.tag_member(session, SYSTEM, by_id.id, tag)
    lines = [
        str(by_id.id),
        (by_mobile.mobile or "")[3:],  # as staff type it: without +86
        "8800123",
        code,
        "card:nobody",
        "13000000000",
        f"id:{by_mobile.id}",
        "999999",
    ]
    result = service.add_members(session, actor(Role.hq_marketing), tag.id, lines)
    assert [(r.line, r.status, r.member_id) for r in result.results] == [
        (1, "already", by_id.id),
        (2, "added", by_mobile.id),
        (3, "added", by_card.id),
        (4, "added", by_code.id),
        (5, "not_found", None),
        (6, "not_found", None),
        (7, "already", by_mobile.id),
        (8, "not_found", None),
    ]
    assert result.counts == {"added": 3, "already": 2, "not_found": 3}
    assert count_of(session, tag) == 4
    assert len(actions(session, "tag.add")) == 4  # one by hand, three from the list
    removed = service.remove_members(
        session, actor(Role.hq_marketing), tag.id, [str(by_id.id), str(by_id.id), "nobody"]
    )
    assert [r.status for r in removed.results] == ["removed", "absent", "not_found"]
    assert count_of(session, tag) == 3


def test_pasted_text_splits_on_lines_and_commas() -> None:
    assert service.pasted(" 1\n\n2, 3；\r\n4，5 ") == ["1", "2", "3；", "4", "5"]


def csv_file(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def test_a_file_creates_imported_tags_and_reports_rows(session: Session) -> None:
    store = make_store(session)
    first, second = make_member(session, store), make_member(session, store)
    vip = new_tag(session)
    rule_tag = Tag(name="高频", kind=TagKind.rule.value, rule="frequency >= 3", member_count=0)
    session.add(rule_tag)
    session.flush()
    content = csv_file(
        "会员,标签",
        f"{first.id},VIP",
        f"{first.mobile},VIP",
        f"{second.id}, 母婴 ",
        "nobody,母婴",
        f"{second.id},",
        f"{second.id},高频",
        f"{second.id}," + "x" * 65,
    )
    result = service.import_file(session, actor(Role.hq_admin), content, "tags.csv")
    assert result.counts == {"added": 2, "already": 1, "not_found": 1, "refused": 3}
    assert result.created_tags == ["母婴"]
    assert [(r.line, r.status, r.code) for r in result.results] == [
        (3, "already", None),
        (5, "not_found", "member_not_found"),
        (6, "refused", "missing"),
        (7, "refused", "rule_tag_is_computed"),
        (8, "refused", "too_long"),
    ]
    baby = service.find_tag(session, "母婴")
    assert baby is not None
    assert baby.kind == "imported"
    assert count_of(session, baby) == 1
    assert count_of(session, vip) == 1
    assert service.member_tags(session, second.id)[0].source == "import"
    [(_, _, summary)] = actions(session, "tag.import")
    assert summary == {
        "file": "tags.csv",
        "added": 2,
        "already": 1,
        "not_found": 1,
        "refused": 3,
        "created_tags": ["母婴"],
    }


def test_a_workbook_for_one_tag_needs_the_member_column_only(session: Session) -> None:
    member = make_member(session)
    tag = new_tag(session)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["手机号"])
    sheet.append([int((member.mobile or "")[3:])])  # Excel keeps a mobile as a number
    buffer = io.BytesIO()
    book.save(buffer)
    result = service.import_file(session, SYSTEM, buffer.getvalue(), "vip.xlsx", tag=tag)
    assert result.counts["added"] == 1
    assert count_of(session, tag) == 1
    with pytest.raises(InvalidInput, match="tag"):
        service.import_file(session, SYSTEM, csv_file("member", "1"), "x.csv")


def test_merge_moves_tags_and_keeps_the_survivors(session: Session) -> None:
    source, target = make_member(session), make_member(session)
    both, only_source, only_target = (new_tag(session, n) for n in ("A", "B", "C"))
    for member, tag in (
        (source, both),
        (target, both),
        (source, only_source),
        (target, only_target),
    ):
        service.tag_member(session, SYSTEM, member.id, tag)
    merge.merge_members(session, SYSTEM, source.id, target.id)
    assert [t.name for t in service.member_tags(session, target.id)] == ["A", "B", "C"]
    assert service.member_tags(session, source.id) == []
    assert [count_of(session, t) for t in (both, only_source, only_target)] == [1, 1, 1]
    added_at = {t.name: t.added_by for t in service.member_tags(session, target.id)}
    assert added_at == {"A": "system", "B": "system", "C": "system"}


def test_erasure_removes_tags_and_the_export_lists_them(session: Session) -> None:
    member = make_member(session)
    tag = new_tag(session)
    service.tag_member(session, SYSTEM, member.id, tag)
    exported = privacy.export_member(session, SYSTEM, member.id)
    assert [(t["tag"], t["kind"], t["source"]) for t in exported["tags"]] == [
        ("VIP", "manual", "manual")
    ]
    privacy.erase_member(session, SYSTEM, member.id, "PIPL request")
    assert service.member_tags(session, member.id) == []
    assert count_of(session, tag) == 0


def test_list_filters_by_kind_and_name(session: Session) -> None:
    new_tag(session, "VIP会员")
    session.add(Tag(name="导入", kind=TagKind.imported.value, member_count=0))
    session.flush()
    by_kind = service.list_tags(session, service.TagFilter(kind=TagKind.imported), None, 10)
    assert [t.name for t in by_kind.items] == ["导入"]
    by_name = service.list_tags(session, service.TagFilter(q="vip"), None, 10)
    assert [t.name for t in by_name.items] == ["VIP会员"]
    assert service.list_tags(session, service.TagFilter(q="%"), None, 10).items == []


def test_a_tags_members_are_listed_within_the_callers_stores(session: Session) -> None:
    mine, theirs = make_store(session), make_store(session)
    near, far = make_member(session, mine), make_member(session, theirs)
    tag = new_tag(session)
    service.add_members(session, SYSTEM, tag.id, [str(near.id), str(far.id)])
    everyone = service.tag_members(session, SYSTEM, tag.id, None, 10)
    assert [r.member_id for r in everyone.items] == [far.id, near.id]
    scoped = service.tag_members(session, actor(Role.store_manager, [mine.id]), tag.id, None, 10)
    assert [r.member_id for r in scoped.items] == [near.id]
    first = service.tag_members(session, SYSTEM, tag.id, None, 1)
    assert first.next_cursor is not None
    rest = service.tag_members(session, SYSTEM, tag.id, first.next_cursor, 1)
    assert [r.member_id for r in rest.items] == [near.id]


def test_a_merged_members_reference_leads_to_the_survivor(session: Session) -> None:
    source, target = make_member(session), make_member(session)
    merge.merge_members(session, SYSTEM, source.id, target.id)
    tag = new_tag(session)
    result = service.add_members(session, SYSTEM, tag.id, [str(source.id), str(target.id)])
    assert [(r.status, r.member_id) for r in result.results] == [
        ("added", target.id),
        ("already", target.id),
    ]
