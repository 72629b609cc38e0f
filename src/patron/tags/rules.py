"""Rule tags: a tag whose members are what a segment-language rule selects, recomputed on
schedule (`tags.refresh`) and on demand. A refresh is set-based: one DELETE of the rows the rule
no longer selects, one INSERT ... SELECT of the members it newly selects, then the tag's count
and `refreshed_at`; never a row per member in Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import SYSTEM, Actor
from patron.segments import compiler
from patron.segments import rules as segment_rules
from patron.tags.errors import NotARuleTag
from patron.tags.models import MemberTag, Tag, TagKind

MEMBER_TAGS = cast(Table, MemberTag.__table__)
RULE_SOURCE = "rule"


@dataclass(frozen=True)
class Refreshed:
    tag: str
    added: int
    removed: int
    member_count: int


def refresh(session: Session, actor: Actor, tag: Tag, now: datetime | None = None) -> Refreshed:
    """Apply the tag's rule as of `now` to every member (the compiled rule selects active
    members only; the whole chain: a tag is the chain's, whoever refreshes it)."""
    if tag.kind != TagKind.rule or not tag.rule:
        raise NotARuleTag(f"the tag {tag.name!r} is a {tag.kind} tag")
    now = now or clock.now()
    rule = segment_rules.parse(tag.rule)
    selected = compiler.member_ids(session, rule, now, None).subquery("selected")
    member_id = selected.c[0]
    before = _count(session, tag)
    # NOT EXISTS, which PostgreSQL plans as an anti-join (NOT IN over a million ids would not).
    session.execute(
        delete(MemberTag)
        .where(
            MemberTag.tag_id == tag.id,
            ~exists().select_from(selected).where(member_id == MemberTag.member_id),
        )
        .execution_options(synchronize_session=False)
    )
    kept = _count(session, tag)
    new_rows = select(
        member_id,
        literal(tag.id),
        literal(RULE_SOURCE),
        literal(RULE_SOURCE),
        literal(now, MEMBER_TAGS.c.added_at.type),
    ).where(~exists().where(MemberTag.tag_id == tag.id, MemberTag.member_id == member_id))
    session.execute(
        insert(MEMBER_TAGS).from_select(
            ["member_id", "tag_id", "source", "added_by", "added_at"], new_rows
        )
    )
    # Counted rather than read from row counts (INSERT ... SELECT reported -1 through the ORM
    # session on PostgreSQL).
    count = _count(session, tag)
    added, gone = count - kept, before - kept
    session.execute(
        update(Tag)
        .where(Tag.id == tag.id)
        .values(member_count=count, refreshed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(tag)
    audit.record(
        session,
        actor,
        "tag.refresh",
        "tag",
        tag.id,
        after={"added": added, "removed": gone, "member_count": count},
    )
    return Refreshed(tag.name, added, gone, count)


def _count(session: Session, tag: Tag) -> int:
    query = select(func.count()).select_from(MemberTag).where(MemberTag.tag_id == tag.id)
    return session.scalar(query) or 0


def refresh_all(session: Session, now: datetime, actor: Actor = SYSTEM) -> list[Refreshed]:
    """Every rule tag, in id order."""
    tags = session.scalars(select(Tag).where(Tag.kind == TagKind.rule.value).order_by(Tag.id)).all()
    return [refresh(session, actor, tag, now) for tag in tags]
