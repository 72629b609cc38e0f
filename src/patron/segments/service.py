"""Counting and previewing the members a rule matches, in the caller's stores; saved segments,
their refresh and count history, their members and their export."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.db import unique_or
from patron.core.errors import InvalidInput
from patron.core.export import Cell
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.members import presenters, registry
from patron.members import queries as members_queries
from patron.members.privacy import sees_pii_in_scope
from patron.profiles import queries as profiles
from patron.segments import compiler, permissions, rules
from patron.segments.errors import ChainWideOnly, InvalidRule, SegmentNameTaken, SegmentNotFound
from patron.segments.models import Segment, SegmentCount
from patron.segments.rules import Rule
from patron.segments.schemas import SegmentIn, SegmentUpdate
from patron.stores import service as stores

if TYPE_CHECKING:
    from patron.members.models import Member

log = logging.getLogger(__name__)
SAMPLE_SIZE = 20
NAME_UNIQUE = "uq_segments_name"
# Members read per query while an export is written.
EXPORT_CHUNK = 2000
EXPORT_COLUMNS = (
    "member_id",
    "name",
    "mobile",
    "gender",
    "birthday",
    "email",
    "store",
    "channel",
    "registered_at",
)


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[int]


def _rule(text_or_rule: str | Rule) -> Rule:
    return rules.parse(text_or_rule) if isinstance(text_or_rule, str) else text_or_rule


def member_ids(
    session: Session, actor: Actor, text_or_rule: str | Rule, now: datetime
) -> Select[int]:
    """The rule's query, limited to the caller's stores' members when it is store-scoped."""
    return compiler.member_ids(session, _rule(text_or_rule), now, actor.store_ids)


def count(session: Session, actor: Actor, text_or_rule: str | Rule, now: datetime) -> int:
    query = member_ids(session, actor, text_or_rule, now).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def preview(session: Session, actor: Actor, text: str, now: datetime) -> Preview:
    """The count and the first SAMPLE_SIZE member ids; InvalidRule when the rule is invalid."""
    matched = member_ids(session, actor, rules.parse(text), now).subquery()
    # One statement, the rule evaluated once: the window's count is taken before the LIMIT.
    rows = session.execute(
        select(matched.c.id, func.count().over()).order_by(matched.c.id).limit(SAMPLE_SIZE)
    ).all()
    return Preview(int(rows[0][1]) if rows else 0, [member_id for member_id, _ in rows])


def distribution(session: Session, actor: Actor) -> profiles.Distribution:
    """The caller's members (active, of their stores when store-scoped) by RFM class and
    lifecycle stage: the builder's charts."""
    active = registry.active_ids().subquery("active")
    scope = select(active.c.id).where(registry.in_scope(actor, active.c.id))
    return profiles.distribution(session, scope)


# Saved segments -------------------------------------------------------------------------------


def list_segments(session: Session, cursor: str | None, limit: int) -> PageResult[Segment]:
    return paginate(session, select(Segment), Segment.id, cursor, limit)


def all_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.id)))


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise SegmentNotFound(f"no segment {segment_id}")
    return segment


def _checked(text: str) -> str:
    """The rule as saved: parsed (InvalidRule when it is not one), kept as typed."""
    rules.parse(text)
    return text


def create(session: Session, actor: Actor, data: SegmentIn, now: datetime) -> Segment:
    """Save a segment and count it (its first history point). Name unique: 409."""
    permissions.MANAGE.check(actor)
    segment = Segment(
        name=data.name,
        description=data.description,
        rule=_checked(data.rule),
        created_by=actor.name,
    )
    with unique_or(session, {NAME_UNIQUE: SegmentNameTaken(f"a segment is named {data.name}")}):
        session.add(segment)
    audit.record(
        session,
        actor,
        "segment.create",
        "segment",
        segment.id,
        after={"name": segment.name, "description": segment.description, "rule": segment.rule},
    )
    refresh(session, segment, now)
    return segment


def update(
    session: Session, actor: Actor, segment_id: int, data: SegmentUpdate, now: datetime
) -> Segment:
    """Change the name, description or rule; a new rule is counted at once."""
    permissions.MANAGE.check(actor)
    segment = get_segment(session, segment_id)
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    if "rule" in changes:
        _checked(changes["rule"])
    current = {k: getattr(segment, k) for k in changes}
    before, after = audit.changed_fields(current, changes)
    if not after:
        return segment
    name = after.get("name", segment.name)
    with unique_or(session, {NAME_UNIQUE: SegmentNameTaken(f"a segment is named {name}")}):
        for key, value in after.items():
            setattr(segment, key, value)
    audit.record(
        session, actor, "segment.update", "segment", segment.id, before=before, after=after
    )
    if "rule" in after:
        refresh(session, segment, now)
    return segment


def delete_segment(session: Session, actor: Actor, segment_id: int) -> None:
    """Delete the segment and its count history (the audit keeps its name and rule)."""
    permissions.MANAGE.check(actor)
    segment = get_segment(session, segment_id)
    before = {"name": segment.name, "description": segment.description, "rule": segment.rule}
    session.execute(delete(SegmentCount).where(SegmentCount.segment_id == segment.id))
    session.delete(segment)
    session.flush()
    audit.record(session, actor, "segment.delete", "segment", segment_id, before=before)


def refresh(session: Session, segment: Segment, now: datetime) -> int:
    """Count the segment chain-wide at `now`: its member_count, refreshed_at and a history
    point (one per `now`: a second refresh for the same moment replaces it)."""
    total = _chain_count(session, rules.parse(segment.rule), now)
    segment.member_count = total
    segment.refreshed_at = now
    point = session.scalars(
        select(SegmentCount).where(
            SegmentCount.segment_id == segment.id, SegmentCount.counted_at == now
        )
    ).first()
    if point is None:
        session.add(SegmentCount(segment_id=segment.id, counted_at=now, member_count=total))
    else:
        point.member_count = total
    session.flush()
    return total


def _chain_count(session: Session, rule: Rule, now: datetime) -> int:
    query = compiler.member_ids(session, rule, now, None).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


@dataclass(frozen=True)
class RefreshReport:
    refreshed: int
    failed: list[str]


def refresh_all(session: Session, now: datetime) -> RefreshReport:
    """Refresh every saved segment; one whose rule no longer parses is skipped and named."""
    refreshed, failed = 0, []
    for segment in session.scalars(select(Segment).order_by(Segment.id)):
        try:
            refresh(session, segment, now)
        except InvalidRule as exc:
            log.warning("segment %s not refreshed: %s", segment.id, exc.detail)
            failed.append(segment.name)
            continue
        refreshed += 1
    return RefreshReport(refreshed, failed)


def history(
    session: Session, actor: Actor, segment_id: int, limit: int = 400
) -> list[SegmentCount]:
    """The last `limit` counts, oldest first. The stored counts are chain-wide: store-scoped
    callers are refused (they count their stores' members live)."""
    if not actor.all_stores:
        raise ChainWideOnly("the count history counts every store's members")
    get_segment(session, segment_id)
    points = session.scalars(
        select(SegmentCount)
        .where(SegmentCount.segment_id == segment_id)
        .order_by(SegmentCount.counted_at.desc())
        .limit(limit)
    ).all()
    return list(reversed(points))


def histories(session: Session, segment_ids: list[int], limit: int = 30) -> dict[int, list[int]]:
    """The last `limit` counts of each segment, oldest first, in one query (the console's
    sparklines)."""
    if not segment_ids:
        return {}
    ranked = (
        select(
            SegmentCount.segment_id,
            SegmentCount.member_count,
            SegmentCount.counted_at,
            func.row_number()
            .over(partition_by=SegmentCount.segment_id, order_by=SegmentCount.counted_at.desc())
            .label("n"),
        )
        .where(SegmentCount.segment_id.in_(segment_ids))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.segment_id, ranked.c.member_count)
        .where(ranked.c.n <= limit)
        .order_by(ranked.c.segment_id, ranked.c.counted_at)
    )
    found: dict[int, list[int]] = {segment_id: [] for segment_id in segment_ids}
    for segment_id, member_count in rows:
        found[segment_id].append(member_count)
    return found


def scoped_count(session: Session, actor: Actor, segment: Segment, now: datetime) -> int | None:
    """What a caller sees as the segment's size: the stored count (chain-wide callers), or
    their stores' members matching now."""
    if actor.all_stores:
        return segment.member_count
    try:
        return count(session, actor, segment.rule, now)
    except InvalidRule:
        return None


# Members and export -----------------------------------------------------------------------------


def members(
    session: Session,
    actor: Actor,
    segment_id: int,
    now: datetime,
    cursor: str | None,
    limit: int,
) -> PageResult[Member]:
    """The members the segment matches now, newest first, in the caller's stores; one query."""
    segment = get_segment(session, segment_id)
    ids = member_ids(session, actor, segment.rule, now)
    return members_queries.page_among(session, ids, cursor, limit)


def export_rows(
    session: Session, actor: Actor, segment_id: int, now: datetime, fmt: str
) -> Iterator[tuple[Cell, ...]]:
    """The segment's members as rows of EXPORT_COLUMNS, in id order, read EXPORT_CHUNK at a time;
    PII in clear only where the caller may see it (`members.privacy`), else masked. The export
    is audited (`segment.export`: the format and how many rows were in clear)."""
    permissions.EXPORT.check(actor)
    segment = get_segment(session, segment_id)
    ids = member_ids(session, actor, segment.rule, now)
    audit.record(
        session,
        actor,
        "segment.export",
        "segment",
        segment.id,
        after={"format": fmt, "rule": segment.rule, "pii": _pii(actor)},
    )
    return _rows(session, actor, ids)


def _pii(actor: Actor) -> str:
    """How the export shows PII: the members it holds are the caller's stores' (`member_ids`),
    which `members.privacy` shows in full or masked."""
    return "full" if sees_pii_in_scope(actor) else "masked"


def _rows(session: Session, actor: Actor, ids: Select[int]) -> Iterator[tuple[Cell, ...]]:
    codes: dict[int, str] = {}
    for chunk in presenters.member_rows(session, actor, ids, EXPORT_CHUNK):
        missing = {row.store_id for row in chunk if row.store_id and row.store_id not in codes}
        codes.update(stores.codes_by_id(session, missing))
        for row in chunk:
            store = codes.get(row.store_id) if row.store_id else None
            yield (
                row.id,
                row.name,
                row.mobile,
                row.gender,
                row.birthday,
                row.email,
                store,
                row.channel,
                row.registered_at,
            )
