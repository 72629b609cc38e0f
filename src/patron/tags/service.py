"""Tags on members: creating and editing tags, tagging members one by one, by a pasted list and
from a file, and what merge, erasure and export need.

A tag's `member_count` is kept current by every write here: an INSERT or DELETE of member_tags
rows is followed by `member_count = member_count + n` for the rows it really wrote (RETURNING),
so concurrent writers add up. Each member tagged or untagged leaves an audit entry on the member
(`tag.add`, `tag.remove`); rule tags change only through their refresh (`patron.tags.rules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core import text as text_rules
from patron.core.actor import Actor
from patron.core.db import insert_or_skip, unique_or
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.core.tabular import DEFAULT_LIMITS, FileLimits, RowError, read_records, record_text
from patron.members import merge as member_merge
from patron.members import references, registry, visibility
from patron.members.models import MemberStatus
from patron.segments import rules as segment_rules
from patron.tags import permissions
from patron.tags.errors import RuleTagIsComputed, TagNameTaken, TagNotFound
from patron.tags.models import MemberTag, Tag, TagKind
from patron.tags.schemas import (
    NAME_LENGTH,
    BulkResult,
    ImportResult,
    LineResult,
    MemberTagOut,
    TagCreate,
    TagUpdate,
)

MEMBER_TAGS = cast(Table, MemberTag.__table__)
NAME_UNIQUE = "uq_tags_name"
# The source a member's tag row records for each kind of tag.
SOURCE = {TagKind.manual: "manual", TagKind.imported: "import", TagKind.rule: "rule"}
# A file's columns: the member (any reference `members.references` reads) and the tag's name.
HEADERS = {
    "member": "member", "会员": "member", "member_id": "member", "会员id": "member",
    "会员编号": "member", "mobile": "member", "手机号": "member", "card_no": "member",
    "会员卡号": "member", "卡号": "member",
    "tag": "tag", "标签": "tag", "tag_name": "tag", "标签名": "tag", "标签名称": "tag",
}  # fmt: skip
FIELDS = ("member", "tag")
# Members per statement (PostgreSQL takes at most 65,535 parameters in one).
CHUNK = 5000


# --- tags -----------------------------------------------------------------------------------


def snapshot(tag: Tag) -> dict[str, object]:
    return {"name": tag.name, "kind": tag.kind, "description": tag.description, "rule": tag.rule}


def clean_name(raw: str, field: str = "tag") -> str:
    """A tag's name as typed (a form, a file's cell): trimmed, 1 to 64 characters."""
    name = text_rules.trim(raw)
    if (refused := text_rules.refusal(name)) is not None:
        raise InvalidInput(field, refused.message, code=refused.code)
    if not name:
        raise InvalidInput(field, "is blank", code=Reason.missing)
    if len(name) > NAME_LENGTH:
        raise InvalidInput(field, f"longer than {NAME_LENGTH} characters", code=Reason.too_long)
    return name


@dataclass
class TagFilter:
    kind: TagKind | None = None
    q: str | None = None


def list_tags(
    session: Session, filters: TagFilter, cursor: str | None, limit: int
) -> PageResult[Tag]:
    """Tags newest first, with their member counts: one query."""
    query = select(Tag)
    if filters.kind is not None:
        query = query.where(Tag.kind == filters.kind.value)
    if filters.q and filters.q.strip():
        query = query.where(
            func.lower(Tag.name).contains(filters.q.strip().lower(), autoescape=True)
        )
    return paginate(session, query, Tag.id, cursor, limit)


def all_names(session: Session, kinds: Iterable[TagKind] = tuple(TagKind)) -> list[str]:
    """Every tag's name of these kinds, by name (the console's suggestions)."""
    wanted = [k.value for k in kinds]
    return list(session.scalars(select(Tag.name).where(Tag.kind.in_(wanted)).order_by(Tag.name)))


def get_tag(session: Session, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise TagNotFound(f"no tag {tag_id}")
    return tag


def find_tag(session: Session, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.name == name))


def rule_tags(session: Session) -> list[Tag]:
    return list(session.scalars(select(Tag).where(Tag.kind == TagKind.rule.value).order_by(Tag.id)))


def _taken(name: str) -> TagNameTaken:
    return TagNameTaken(f"a tag named {name!r} exists", field="name")


def create_tag(session: Session, actor: Actor, data: TagCreate) -> Tag:
    """A manual or a rule tag. A rule tag's rule is checked here; its members come with its
    first refresh (`patron.tags.rules.refresh`)."""
    permissions.MANAGE.check(actor)
    kind = TagKind(data.kind.value)
    rule = _checked_rule(kind, data.rule)
    tag = Tag(
        name=data.name,
        kind=kind.value,
        description=data.description,
        rule=rule,
        member_count=0,
        created_by=actor.name,
    )
    with unique_or(session, {NAME_UNIQUE: _taken(data.name)}):
        session.add(tag)
    audit.record(session, actor, "tag.create", "tag", tag.id, after=snapshot(tag))
    return tag


def update_tag(session: Session, actor: Actor, tag_id: int, data: TagUpdate) -> Tag:
    """Name, description and (rule tags) rule; the kind stays. A changed rule applies at the
    tag's next refresh."""
    permissions.MANAGE.check(actor)
    tag = get_tag(session, tag_id)
    changes = data.model_dump(exclude_unset=True)
    if None in changes.values():
        field = next(k for k, v in changes.items() if v is None)
        raise InvalidInput(field, "cannot be null", code=Reason.missing)
    if "rule" in changes:
        changes["rule"] = _checked_rule(TagKind(tag.kind), changes["rule"])
    before = snapshot(tag)
    with unique_or(session, {NAME_UNIQUE: _taken(str(changes.get("name")))}):
        for field, value in changes.items():
            setattr(tag, field, value)
    old, new = audit.changed_fields(before, snapshot(tag))
    if new:
        audit.record(session, actor, "tag.update", "tag", tag.id, before=old, after=new)
    return tag


def _checked_rule(kind: TagKind, rule: str | None) -> str | None:
    if kind is not TagKind.rule:
        if rule is not None and rule.strip():
            raise InvalidInput("rule", "only rule tags have a rule", code=Reason.not_for_type)
        return None
    if rule is None or not rule.strip():
        raise InvalidInput("rule", "a rule tag needs a rule", code=Reason.needed_for_type)
    segment_rules.parse(rule)  # InvalidRule: 422 invalid_rule, with its line and column
    return rule.strip()


# --- one member's tags ------------------------------------------------------------------------


def member_tags(session: Session, member_id: int) -> list[MemberTagOut]:
    """The member's tags by name: one query."""
    rows = session.execute(
        select(MemberTag, Tag.name, Tag.kind)
        .join(Tag, Tag.id == MemberTag.tag_id)
        .where(MemberTag.member_id == member_id)
        .order_by(Tag.name)
    )
    return [_out(row, name, kind) for row, name, kind in rows]


def _out(row: MemberTag, name: str, kind: str) -> MemberTagOut:
    return MemberTagOut(
        tag_id=row.tag_id,
        name=name,
        kind=TagKind(kind),
        source=row.source,
        added_by=row.added_by,
        added_at=row.added_at,
    )


def tag_by_ref(
    session: Session, actor: Actor, name: str | None, tag_id: int | None, *, create: bool = True
) -> Tag:
    """The tag a request names by id or by name. A name no tag has creates a manual tag when
    `create` and the caller manages tags; otherwise it is not found."""
    if (name is None) == (tag_id is None):
        raise InvalidInput("tag", "give the tag or the tag_id", code=Reason.tag_or_tag_id)
    if tag_id is not None:
        return get_tag(session, tag_id)
    assert name is not None
    name = clean_name(name)
    tag = find_tag(session, name)
    if tag is not None:
        return tag
    if not create or not permissions.MANAGE.allows(actor):
        raise TagNotFound(f"no tag named {name!r}", field="tag")
    return create_tag(session, actor, TagCreate(name=name))


def tag_member(
    session: Session, actor: Actor, member_id: int, tag: Tag
) -> tuple[MemberTagOut, bool]:
    """Tag one member the caller may read (else 404): (the member's tag, whether it was added
    now). Adding a tag the member has changes nothing."""
    permissions.TAG_MEMBERS.check(actor)
    member = visibility.get_member(session, actor, member_id)
    _by_hand(tag)
    member_merge.hold(session, [member.id], active=True)
    added = _insert(session, actor, tag, [member.id])
    if added:
        _audit_members(session, actor, tag, "tag.add", [member.id])
    row = session.get(MemberTag, (member.id, tag.id))
    assert row is not None
    return _out(row, tag.name, tag.kind), bool(added)


def untag_member(session: Session, actor: Actor, member_id: int, tag_id: int) -> bool:
    """Remove a tag from a member the caller may read; whether the member had it."""
    permissions.TAG_MEMBERS.check(actor)
    member = visibility.get_member(session, actor, member_id)
    tag = get_tag(session, tag_id)
    _by_hand(tag)
    removed = _delete(session, tag, [member.id])
    if removed:
        _audit_members(session, actor, tag, "tag.remove", [member.id])
    return bool(removed)


def _by_hand(tag: Tag) -> None:
    if tag.kind == TagKind.rule:
        raise RuleTagIsComputed(f"the tag {tag.name!r} is a rule tag: its rule chooses its members")


def _insert(session: Session, actor: Actor, tag: Tag, member_ids: Sequence[int]) -> list[int]:
    """Insert the rows the members lack (each once); the ids really inserted, counted in. On
    PostgreSQL one INSERT ... SELECT over an array of the ids (one parameter, not five a row)."""
    ids = list(dict.fromkeys(member_ids))
    if not ids:
        return []
    now = clock.now()
    source = SOURCE[TagKind(tag.kind)]
    statement = insert_or_skip(session, MEMBER_TAGS)
    if session.get_bind().dialect.name == "postgresql":
        unnested = select(
            func.unnest(bindparam("ids", ids, type_=ARRAY(Integer))),
            literal(tag.id),
            literal(source),
            literal(actor.name),
            literal(now, MEMBER_TAGS.c.added_at.type),
        )
        statement = statement.from_select(
            ["member_id", "tag_id", "source", "added_by", "added_at"], unnested
        )
        rows: list[dict[str, Any]] | None = None
    else:
        rows = [
            {
                "member_id": i,
                "tag_id": tag.id,
                "source": source,
                "added_by": actor.name,
                "added_at": now,
            }
            for i in ids
        ]
    skipping = statement.on_conflict_do_nothing(index_elements=["member_id", "tag_id"])
    inserted = list(session.scalars(skipping.returning(MEMBER_TAGS.c.member_id), rows))
    _count(session, tag, len(inserted))
    return inserted


def _delete(session: Session, tag: Tag, member_ids: Sequence[int]) -> list[int]:
    removed: list[int] = []
    for chunk in _chunks(member_ids):
        removed += session.scalars(
            delete(MemberTag)
            .where(MemberTag.tag_id == tag.id, MemberTag.member_id.in_(chunk))
            .returning(MemberTag.member_id)
        )
    _count(session, tag, -len(removed))
    return removed


def _count(session: Session, tag: Tag, delta: int) -> None:
    if delta:
        session.execute(
            update(Tag)
            .where(Tag.id == tag.id)
            .values(member_count=Tag.member_count + delta)
            .execution_options(synchronize_session=False)
        )
        session.refresh(tag, ["member_count"])


def _audit_members(
    session: Session, actor: Actor, tag: Tag, action: str, member_ids: Iterable[int]
) -> None:
    """One entry per member, on the member (with the member's store, as other entries)."""
    after = {"tag_id": tag.id, "tag": tag.name}
    for chunk in _chunks(member_ids):
        stores = registry.standings(session, chunk)
        audit.record_many(
            session,
            [
                audit.entry_values(
                    actor, action, "member", i, store_id=stores[i].store_id, after=after
                )
                for i in sorted(chunk)
            ],
        )


# --- many members at once ---------------------------------------------------------------------


def add_members(session: Session, actor: Actor, tag_id: int, refs: Sequence[str]) -> BulkResult:
    """Tag the members a list names (ids, mobiles, card numbers, member codes): per line
    `added`, `already` (the member had the tag, or an earlier line named the same member) or
    `not_found` (no active member, or one the caller may not read)."""
    permissions.BULK.check(actor)
    tag = get_tag(session, tag_id)
    _by_hand(tag)
    found = _named(session, actor, refs)
    added = set(_tag_many(session, actor, tag, [i for i in found if i is not None]))
    return _results(refs, found, added, ("added", "already"), tag.name)


def remove_members(session: Session, actor: Actor, tag_id: int, refs: Sequence[str]) -> BulkResult:
    """Untag the members a list names: per line `removed`, `absent` or `not_found`."""
    permissions.BULK.check(actor)
    tag = get_tag(session, tag_id)
    _by_hand(tag)
    found = _named(session, actor, refs)
    ids = [i for i in found if i is not None]
    removed = set(_delete(session, tag, ids))
    _audit_members(session, actor, tag, "tag.remove", removed)
    return _results(refs, found, removed, ("removed", "absent"), tag.name)


def _named(session: Session, actor: Actor, refs: Sequence[str]) -> list[int | None]:
    """The active member each reference names, in the caller's sight, else None."""
    return [r.member_id for r in references.resolve_references(session, actor, refs)]


def _tag_many(session: Session, actor: Actor, tag: Tag, member_ids: Sequence[int]) -> list[int]:
    """Insert for the members still active once held (a merge in flight finishes first), a
    chunk at a time (a statement takes at most 65,535 parameters on PostgreSQL)."""
    added: list[int] = []
    for chunk in _chunks(member_ids):
        held = member_merge.hold(session, chunk)
        active = [i for i in chunk if held.get(i) and held[i].status == MemberStatus.active]
        inserted = _insert(session, actor, tag, active)
        _audit_members(session, actor, tag, "tag.add", inserted)
        added += inserted
    return added


def _chunks(member_ids: Iterable[int]) -> Iterator[list[int]]:
    ids = list(dict.fromkeys(member_ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _results(
    refs: Sequence[str],
    found: Sequence[int | None],
    changed: set[int],
    words: tuple[str, str],
    tag_name: str,
) -> BulkResult:
    done, unchanged = words
    seen: set[int] = set()
    results = []
    for line, (ref, member_id) in enumerate(zip(refs, found, strict=True), 1):
        if member_id is None:
            status = "not_found"
        elif member_id in changed and member_id not in seen:
            status = done
        else:
            status = unchanged
        if member_id is not None:
            seen.add(member_id)
        results.append(
            LineResult(line=line, ref=ref, status=status, member_id=member_id, tag=tag_name)
        )
    return BulkResult(counts=_counts(results, (done, unchanged, "not_found")), results=results)


def _counts(results: Iterable[LineResult], statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def pasted(raw: str) -> list[str]:
    """The non-empty lines of a pasted list (commas and semicolons separate too)."""
    entries = raw.replace(",", "\n").replace(";", "\n").replace("，", "\n").splitlines()
    return [entry.strip() for entry in entries if entry.strip()]


# --- files ------------------------------------------------------------------------------------


@dataclass
class _Row:
    number: int
    member: str
    tag: str | None = None
    refused: RowError | None = None


def import_file(
    session: Session,
    actor: Actor,
    content: bytes,
    filename: str,
    *,
    tag: Tag | None = None,
    limits: FileLimits = DEFAULT_LIMITS,
) -> ImportResult:
    """Tag the members of a CSV or .xlsx file: a `member` column (any reference a pasted list
    takes) and a `tag` column; given `tag`, the file may leave the tag column out (or empty).
    A tag name no tag has yet is created as an `imported` tag; a rule tag's rows are refused.
    `results` lists the rows not added (already tagged, not found, refused) by their row number
    in the spreadsheet."""
    permissions.BULK.check(actor)
    if tag is not None:
        _by_hand(tag)
    required = ("member",) if tag is not None else ("member", "tag")
    rows: list[_Row] = []
    for number, (member_cell, tag_cell) in read_records(
        content, filename, HEADERS, FIELDS, required, limits
    ):
        rows.append(_read_row(number, member_cell, tag_cell, tag))
    named = sorted({r.tag for r in rows if r.tag is not None and r.refused is None})
    tags, created = _tags_for_import(session, actor, named)
    for row in rows:
        if row.refused is None and row.tag is not None and tags[row.tag].kind == TagKind.rule:
            row.refused = RowError(
                "tag", "a rule tag's members are computed", code=Reason.rule_tag_is_computed
            )
    live = [r for r in rows if r.refused is None]
    found = _named(session, actor, [r.member for r in live])
    member_of = {id(r): m for r, m in zip(live, found, strict=True)}
    by_tag: dict[str, list[int]] = {}
    for row in live:
        if (member_id := member_of[id(row)]) is not None and row.tag is not None:
            by_tag.setdefault(row.tag, []).append(member_id)
    added: set[tuple[int, str]] = set()
    for name, ids in by_tag.items():
        added |= {(i, name) for i in _tag_many(session, actor, tags[name], ids)}
    results: list[LineResult] = []
    seen: set[tuple[int, str]] = set()
    counts = {"added": 0, "already": 0, "not_found": 0, "refused": 0}
    for row in rows:
        member_id = member_of.get(id(row))
        if row.refused is not None:
            status, code = "refused", row.refused.code.value
        elif member_id is None:
            status, code = "not_found", Reason.member_not_found.value
        elif (member_id, row.tag) in added and (member_id, row.tag) not in seen:
            status, code = "added", None
        else:
            status, code = "already", None
        if member_id is not None and row.tag is not None:
            seen.add((member_id, row.tag))
        counts[status] += 1
        if status != "added":
            results.append(
                LineResult(
                    line=row.number,
                    ref=row.member,
                    status=status,
                    member_id=member_id,
                    tag=row.tag,
                    code=code,
                )
            )
    audit.record(
        session,
        actor,
        "tag.import",
        "tag",
        tag.id if tag is not None else "file",
        after={"file": filename[:200], **counts, "created_tags": created},
    )
    return ImportResult(counts=counts, results=results, created_tags=created)


def _read_row(number: int, member_cell: Any, tag_cell: Any, tag: Tag | None) -> _Row:
    try:
        member = record_text(member_cell)
        raw_tag = record_text(tag_cell)
    except RowError as refused:
        return _Row(number, "", refused=refused)
    if not member:
        return _Row(number, member, refused=RowError("member", "missing", code=Reason.missing))
    if not raw_tag and tag is not None:
        return _Row(number, member, tag.name)
    try:
        return _Row(number, member, clean_name(raw_tag))
    except InvalidInput as error:
        problem = error.extra["errors"][0]
        return _Row(
            number,
            member,
            refused=RowError("tag", problem["message"], code=Reason(problem["code"])),
        )


def _tags_for_import(
    session: Session, actor: Actor, names: list[str]
) -> tuple[dict[str, Tag], list[str]]:
    """The tags by name, those missing created as `imported` tags (one savepoint each: a tag
    another request created meanwhile is taken as it is)."""
    tags: dict[str, Tag] = {}
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        tags |= {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(chunk)))}
    created = []
    for name in names:
        if name in tags:
            continue
        tag = Tag(name=name, kind=TagKind.imported.value, member_count=0, created_by=actor.name)
        try:
            with unique_or(session, {NAME_UNIQUE: _taken(name)}):
                session.add(tag)
        except TagNameTaken:
            found = find_tag(session, name)
            assert found is not None
            tags[name] = found
            continue
        audit.record(session, actor, "tag.create", "tag", tag.id, after=snapshot(tag))
        tags[name] = tag
        created.append(name)
    return tags, created


# --- merge, erasure, export (patron.tags.hooks) -----------------------------------------------


def move_tags(session: Session, source_id: int, target_id: int) -> None:
    """A merge: the source's tags go to the survivor; a tag both have stays the survivor's
    (the source's row goes, one fewer member)."""
    both = select(MemberTag.tag_id).where(MemberTag.member_id == target_id)
    session.execute(
        update(MemberTag)
        .where(MemberTag.member_id == source_id, MemberTag.tag_id.not_in(both))
        .values(member_id=target_id)
        .execution_options(synchronize_session=False)
    )
    _forget(session, source_id)


def _forget(session: Session, member_id: int) -> list[int]:
    """Delete the member's rows, each tag's count one fewer; the tags' ids."""
    tag_ids = list(
        session.scalars(
            delete(MemberTag).where(MemberTag.member_id == member_id).returning(MemberTag.tag_id)
        )
    )
    if tag_ids:
        session.execute(
            update(Tag)
            .where(Tag.id.in_(tag_ids))
            .values(member_count=Tag.member_count - 1)
            .execution_options(synchronize_session=False)
        )
    return tag_ids


def erase_tags(session: Session, member_id: int) -> None:
    _forget(session, member_id)


def export_rows(session: Session, member_id: int) -> list[dict[str, Any]]:
    return [
        {
            "tag": t.name,
            "kind": t.kind.value,
            "source": t.source,
            "added_by": t.added_by,
            "added_at": t.added_at.isoformat(),
        }
        for t in member_tags(session, member_id)
    ]


def tag_changes(
    session: Session, member_id: int, limit: int = 50
) -> list[tuple[datetime, str, dict[str, Any]]]:
    """The member's latest tag changes by hand, bulk and import (their audit entries)."""
    found = []
    for action in ("tag.add", "tag.remove"):
        filters = audit.AuditFilter(entity_type="member", entity_id=str(member_id), action=action)
        page = audit.list_entries(session, filters, None, limit)
        found += [(e.created_at, e.action, dict(e.after or {})) for e in page.items]
    return found


def tag_members(
    session: Session, actor: Actor, tag_id: int, cursor: str | None, limit: int
) -> PageResult[MemberTag]:
    """The tag's members (their rows), latest member first; store-scoped callers see the
    members registered in their stores."""
    query = select(MemberTag).where(
        MemberTag.tag_id == tag_id, registry.in_scope(actor, MemberTag.member_id)
    )
    return paginate(session, query, MemberTag.member_id, cursor, limit)
